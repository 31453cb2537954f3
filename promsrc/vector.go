package promsrc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// vector is an instant query's result, decoded in one pass over the
// answer's data without a map or a string per series: every series' label
// names and values are pairs in one slice, each distinct string is one
// string for the whole answer (labels are indexes of them), and the
// samples' raw JSON sits in one
// buffer. each hands the series out one at a time.
type vector struct {
	resultType string
	strs       []string // every distinct string of the answer, once
	labels     []uint32 // name, value, name, value... of every series in turn, as indexes of strs
	raw        []byte   // the samples' [time, "value"] elements, as sent
	series     []vseries
}

// vseries is one series of a vector: labels[lo:hi] and the raw JSON of its
// time and value at raw[t0:t1] and raw[v0:v1].
type vseries struct {
	lo, hi, t0, t1, v0, v1 int
}

func (v *vector) len() int { return len(v.series) }

// each calls fn with every series in order. The series' Metric map is the
// same map for every call, refilled each time: fn may keep its strings but
// not the map itself, nor Value past the vector's life.
func (v *vector) each(fn func(series) error) error {
	m := make(map[string]string, 16)
	for _, s := range v.series {
		clear(m)
		for i := s.lo; i < s.hi; i += 2 {
			m[v.strs[v.labels[i]]] = v.strs[v.labels[i+1]]
		}
		if err := fn(series{Metric: m, Value: [2]json.RawMessage{v.raw[s.t0:s.t1:s.t1], v.raw[s.v0:s.v1:s.v1]}}); err != nil {
			return err
		}
	}
	return nil
}

// apiResponse is the envelope of every API answer, its data decoded as a
// vector.
type apiResponse struct {
	Status, ErrorType, Error string
	Warnings                 []string
	// Data is the vector, if the data could be read as one; DataErr says
	// why not (the rest of the answer is read all the same).
	Data    *vector
	DataErr error
}

// answerReader reads an answer's body up to a limit, counting the bytes
// and keeping the first ones for an error's excerpt.
type answerReader struct {
	r    io.Reader
	left int64  // bytes it may still read: the limit plus one
	n    int64  // bytes read
	head []byte // the first maxHead bytes
	err  error  // the first error reading r, other than io.EOF
}

const maxHead = 1024

func (a *answerReader) Read(p []byte) (int, error) {
	if a.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.left {
		p = p[:a.left]
	}
	n, err := a.r.Read(p)
	a.left -= int64(n)
	a.n += int64(n)
	if len(a.head) < maxHead {
		a.head = append(a.head, p[:min(n, maxHead-len(a.head))]...)
	}
	if err != nil && err != io.EOF && a.err == nil {
		a.err = err
	}
	return n, err
}

// decodeAnswer decodes an answer's envelope as it is read, the data as a
// vector (decodeVector), as leniently as encoding/json into the same shape.
// A syntax error, a field of the wrong type or data after the envelope is
// an error; data that is not a vector is DataErr.
func decodeAnswer(r io.Reader) (apiResponse, error) {
	var env apiResponse
	d := newVectorDecoder(jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)), 0)
	str := func(what string) (string, error) {
		id, err := d.str(what)
		if err != nil {
			return "", err
		}
		return d.vec.strs[id], nil
	}
	ok, err := d.begin('{', "answer")
	for ok && err == nil {
		var name []byte
		if name, ok, err = d.name("answer"); !ok || err != nil {
			break
		}
		switch {
		case is(name, "status"):
			env.Status, err = str("status")
		case is(name, "errorType"):
			env.ErrorType, err = str("errorType")
		case is(name, "error"):
			env.Error, err = str("error")
		case is(name, "warnings"):
			env.Warnings = env.Warnings[:0]
			var arr bool
			arr, err = d.begin('[', "warnings")
			for arr && err == nil {
				if arr, err = d.more(); arr && err == nil {
					var w string
					w, err = str("warnings")
					env.Warnings = append(env.Warnings, w)
				}
			}
		case is(name, "data"):
			// A second data replaces the first.
			d.vec = vector{strs: d.vec.strs[:0]}
			clear(d.ids)
			depth := d.dec.StackDepth()
			env.Data, env.DataErr = &d.vec, d.top()
			if env.DataErr != nil {
				env.Data = nil
				if se := (*semantic)(nil); !errors.As(env.DataErr, &se) {
					return env, env.DataErr
				}
				// The rest of the data is read past: the envelope may
				// still say why it is not a vector.
				for d.dec.StackDepth() > depth {
					if _, err := d.dec.ReadToken(); err != nil {
						return env, err
					}
				}
			}
		default:
			err = d.dec.SkipValue()
		}
	}
	if err != nil {
		return env, err
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return env, fmt.Errorf("data after the answer")
	}
	if env.Data != nil {
		// The strings of the envelope, interned with the data's, stay
		// with the vector: a few.
		v := d.vec
		env.Data = &v
	}
	return env, nil
}

// decodeVector decodes an instant query's data, {"resultType": ...,
// "result": [{"metric": {...}, "value": [time, "value"]}, ...]}, as
// leniently as encoding/json would into the same shape: member names
// matched ignoring case, unknown members ignored, a name given twice keeps
// the last, invalid UTF-8 replaced, null as an empty value. A label value
// that is not a string, or a value that is not a pair, is an error naming
// the series by its index.
func decodeVector(data []byte) (*vector, error) {
	// Room for the labels of a typical answer (a label name or value
	// takes 10-15 bytes of JSON), so they are not copied as they grow.
	d := newVectorDecoder(jsontext.NewDecoder(bytes.NewBuffer(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)), len(data)/10)
	if err := d.top(); err != nil {
		return nil, err
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("data after the top-level value")
	}
	return &d.vec, nil
}

func newVectorDecoder(dec *jsontext.Decoder, labels int) *vectorDecoder {
	return &vectorDecoder{dec: dec, ids: map[string]uint32{}, vec: vector{labels: make([]uint32, 0, labels)}}
}

type vectorDecoder struct {
	dec     *jsontext.Decoder
	ids     map[string]uint32 // the index in vec.strs of every distinct string
	nameBuf []byte
	vec     vector
}

// begin reads the start of an object or an array (want '{' or '['),
// true, or a null, false; anything else is an error naming what.
func (d *vectorDecoder) begin(want jsontext.Kind, what string) (bool, error) {
	switch k := d.dec.PeekKind(); k {
	case 'n':
		_, err := d.dec.ReadToken()
		return false, err
	case want:
		_, err := d.dec.ReadToken()
		return err == nil, err
	default:
		if _, err := d.dec.ReadValue(); err != nil {
			return false, err
		}
		if want == '{' {
			return false, &semantic{what + ": want an object, got " + kindName(k)}
		}
		return false, &semantic{what + ": want an array, got " + kindName(k)}
	}
}

// name reads an object's next member name, or its end (false). The name
// is valid until the next call of name.
func (d *vectorDecoder) name(what string) ([]byte, bool, error) {
	if d.dec.PeekKind() == '}' {
		_, err := d.dec.ReadToken()
		return nil, false, err
	}
	raw, err := d.dec.ReadValue()
	if err != nil {
		return nil, false, err
	}
	// raw is only valid until the next read: copied.
	d.nameBuf = append(d.nameBuf[:0], raw...)
	name, err := unquote(d.nameBuf)
	if err != nil {
		return nil, false, &semantic{what + ": " + err.Error()}
	}
	return name, true, nil
}

// more says whether an array has another element, or reads its end.
func (d *vectorDecoder) more() (bool, error) {
	if d.dec.PeekKind() == ']' {
		_, err := d.dec.ReadToken()
		return false, err
	}
	return true, nil
}

// intern is the index of b's string in vec.strs.
func (d *vectorDecoder) intern(b []byte) uint32 {
	id, ok := d.ids[string(b)]
	if !ok {
		id = uint32(len(d.vec.strs))
		s := string(b)
		d.vec.strs = append(d.vec.strs, s)
		d.ids[s] = id
	}
	return id
}

// str reads a string (or null, as ""), interned.
func (d *vectorDecoder) str(what string) (uint32, error) {
	raw, err := d.dec.ReadValue()
	if err != nil {
		return 0, err
	}
	switch raw.Kind() {
	case 'n':
		return d.intern(nil), nil
	case '"':
	default:
		return 0, &semantic{what + ": want a string, got " + kindName(raw.Kind())}
	}
	b, err := unquote(raw)
	if err != nil {
		return 0, &semantic{what + ": " + err.Error()}
	}
	return d.intern(b), nil
}

func (d *vectorDecoder) top() error {
	ok, err := d.begin('{', "data")
	for ok && err == nil {
		var name []byte
		if name, ok, err = d.name("data"); !ok || err != nil {
			break
		}
		switch {
		case is(name, "resultType"):
			var t uint32
			if t, err = d.str("resultType"); err == nil {
				d.vec.resultType = d.vec.strs[t]
			}
		case is(name, "result"):
			// A second result replaces the first, as a name given twice
			// keeps the last.
			d.vec.labels, d.vec.raw, d.vec.series = d.vec.labels[:0], d.vec.raw[:0], d.vec.series[:0]
			var arr bool
			arr, err = d.begin('[', "result")
			for i := 0; arr && err == nil; i++ {
				if arr, err = d.more(); arr && err == nil {
					if err = d.oneSeries(); err != nil {
						err = at(fmt.Sprintf("result[%d]", i), err)
					}
				}
			}
		default:
			err = d.dec.SkipValue()
		}
	}
	return err
}

// oneSeries reads one series; its semantic errors start with the path
// within it (".metric: ...", or ": ..." for the series itself).
func (d *vectorDecoder) oneSeries() error {
	s := vseries{lo: len(d.vec.labels)}
	metric := false
	ok, err := d.begin('{', "")
	for ok && err == nil {
		var name []byte
		if name, ok, err = d.name(""); !ok || err != nil {
			break
		}
		switch {
		case is(name, "metric"):
			// A second metric adds to the first (nothing else appends
			// labels in between), as encoding/json merges into a map.
			if !metric {
				s.lo = len(d.vec.labels)
			}
			metric = true
			err = d.metric()
		case is(name, "value"):
			err = d.value(&s)
		default:
			err = d.dec.SkipValue()
		}
	}
	if !metric {
		s.lo = len(d.vec.labels)
	}
	s.hi = len(d.vec.labels)
	d.vec.series = append(d.vec.series, s)
	return err
}

// metric reads a series' labels into vec.labels.
func (d *vectorDecoder) metric() error {
	ok, err := d.begin('{', ".metric")
	for ok && err == nil {
		var label []byte
		if label, ok, err = d.name(".metric"); !ok || err != nil {
			break
		}
		l := d.intern(label)
		var v uint32
		if v, err = d.str(""); err != nil {
			return at(".metric."+strconv.Quote(d.vec.strs[l]), err)
		}
		d.vec.labels = append(d.vec.labels, l, v)
	}
	return err
}

// value reads a series' [time, "value"] into vec.raw.
func (d *vectorDecoder) value(s *vseries) error {
	s.t0, s.t1, s.v0, s.v1 = 0, 0, 0, 0
	ok, err := d.begin('[', ".value")
	if !ok || err != nil {
		return err
	}
	n := 0
	for {
		if ok, err = d.more(); !ok || err != nil {
			break
		}
		raw, err := d.dec.ReadValue()
		if err != nil {
			return err
		}
		start := len(d.vec.raw)
		d.vec.raw = append(d.vec.raw, raw...)
		switch n {
		case 0:
			s.t0, s.t1 = start, len(d.vec.raw)
		case 1:
			s.v0, s.v1 = start, len(d.vec.raw)
		}
		n++
	}
	if err == nil && n != 2 {
		err = &semantic{fmt.Sprintf(".value: %d elements, want [time, \"value\"]", n)}
	}
	return err
}

// semantic is an error about the answer's shape, not its JSON syntax; its
// message starts with the path to the value at fault below where it is
// wrapped.
type semantic struct{ msg string }

func (e *semantic) Error() string { return e.msg }

// at puts path before a semantic error; a syntax error, which names its
// byte offset, is returned as is.
func at(path string, err error) error {
	if se := (*semantic)(nil); errors.As(err, &se) {
		return &semantic{path + se.msg}
	}
	return err
}

// is says whether a member name matches the field name, ignoring case, as
// encoding/json matches them.
func is(name []byte, field string) bool {
	return strings.EqualFold(string(name), field)
}

// unquote is the content of a JSON string as the decoder read it: in place
// when it holds no escape and valid UTF-8, else unescaped with invalid
// UTF-8 replaced, as jsonv2 with jsontext.AllowInvalidUTF8 does.
func unquote(raw []byte) ([]byte, error) {
	b := raw[1 : len(raw)-1]
	if bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		return b, nil
	}
	var s string
	if err := jsonv2.Unmarshal(raw, &s, answerOptions); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "nothing"
}
