package graph

import "fmt"

// IncompleteNotes returns one Warning per node with hosts whose scan could
// not see every socket's owner process (Node.IncompleteHosts): on their ends
// of the edges a missing process name means "not visible", not "no
// process". Notes come in node order; none when every scan was complete.
func (g *Graph) IncompleteNotes() []Note {
	var notes []Note
	for _, n := range g.Nodes {
		if len(n.IncompleteHosts) == 0 {
			continue
		}
		notes = append(notes, Note{Level: Warning, Name: "node " + n.ID, Msg: fmt.Sprintf(
			"%d of %d scanned hosts (%s) had %d sockets whose owner process the scan could not see "+
				"(scanned without root?): process names on their ends of the edges may be missing",
			len(n.IncompleteHosts), len(n.Hosts), joinNames(n.IncompleteHosts, 5), n.UnownedSockets)})
	}
	return notes
}

// joinNames lists up to limit names, then how many more.
func joinNames(names []string, limit int) string {
	out := ""
	for i, n := range names {
		if i == limit {
			return out + fmt.Sprintf(" and %d more", len(names)-limit)
		}
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
