import ipaddress, os, struct
root='proc'
os.makedirs(root+'/net',exist_ok=True); os.makedirs(root+'/sys/kernel',exist_ok=True); os.makedirs(root+'/sys/net/ipv4',exist_ok=True)
open(root+'/sys/kernel/hostname','w').write('fixture-web-1\n')
open(root+'/sys/net/ipv4/ip_local_port_range','w').write('32768\t60999\n')
def hx(ip,port):
    a=ipaddress.ip_address(ip)
    b=a.packed
    words=[b[i:i+4] for i in range(0,len(b),4)]
    s=''.join('%08X'%struct.unpack('<I',w)[0] for w in words)
    return '%s:%04X'%(s,port)
TW,EST,LISTEN,CLOSE,SYN=6,1,10,7,2
tcp4=[('0.0.0.0',22,'0.0.0.0',0,LISTEN,1001),('127.0.0.1',8080,'0.0.0.0',0,LISTEN,1003),
 ('10.1.0.5',22,'10.9.0.1',50000,EST,2001),('10.1.0.5',22,'10.9.0.1',50002,TW,0),
 ('10.1.0.5',40001,'10.3.0.9',5432,EST,2003),('10.1.0.5',40002,'10.3.0.9',5432,EST,2004),('10.1.0.5',40003,'10.3.0.9',5432,TW,0),
 ('127.0.0.1',40020,'127.0.0.1',8080,EST,2006),('127.0.0.1',8080,'127.0.0.1',40020,EST,2007),
 ('10.1.0.5',40030,'10.4.0.1',6379,EST,2008),('10.1.0.5',40050,'10.6.0.1',80,SYN,2010),
 ('10.1.0.5',8443,'10.9.0.2',51000,TW,0)]
tcp6=[('::',9100,'::',0,LISTEN,1002),('::ffff:10.1.0.5',9100,'::ffff:10.2.0.7',44000,EST,2002),
 ('fd00::5',40010,'fd00::9',443,EST,2005)]
udp4=[('0.0.0.0',53,'0.0.0.0',0,CLOSE,1004),('0.0.0.0',41000,'0.0.0.0',0,CLOSE,1005),('10.1.0.5',40040,'10.5.0.1',53,EST,2009)]
udp6=[]
def table(rows,udp=False):
    hdr='  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' if not udp else '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n'
    out=hdr
    for i,(la,lp,ra,rp,st,ino) in enumerate(rows):
        out+='%4d: %s %s %02X 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 100 0 0 10 0\n'%(i,hx(la,lp),hx(ra,rp),st,ino)
    return out
open(root+'/net/tcp','w').write(table(tcp4)); open(root+'/net/tcp6','w').write(table(tcp6))
open(root+'/net/udp','w').write(table(udp4,True)); open(root+'/net/udp6','w').write(table(udp6,True))
open(root+'/net/fib_trie','w').write('''Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.1.0.0/24 2 0 2
        |-- 10.1.0.0
           /24 link UNICAST
        |-- 10.1.0.5
           /32 host LOCAL
        |-- 10.1.0.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.1.0.5
        /32 host LOCAL
''')
open(root+'/net/if_inet6','w').write('''00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000005 02 40 00 80     eth0
fe800000000000000000000000000001 02 40 20 80     eth0
''')
procs={100:('sshd',[1001,2001]),300:('process_exporte',[1002,2002]),200:('my app',[1003,1005,2003,2004,2005,2007,2009]),400:('unbound',[1004]),500:('curl',[2006])}
for pid,(name,inos) in procs.items():
    d='%s/%d'%(root,pid); os.makedirs(d+'/fd',exist_ok=True)
    open(d+'/comm','w').write(name+'\n')
    if pid==200:
        p=d+'/fd/0'
        if not os.path.lexists(p): os.symlink('/dev/null',p)
    for i,ino in enumerate(inos):
        p='%s/fd/%d'%(d,i+3)
        if os.path.lexists(p): os.remove(p)
        os.symlink('socket:[%d]'%ino,p)
