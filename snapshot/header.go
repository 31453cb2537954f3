package snapshot

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"
)

// Header is the start of a snapshot document: what choosing between
// snapshots needs (whose it is, when it was scanned) without the records.
// A member the document does not have before its records is nil or empty.
type Header struct {
	Schema    string
	ScannedAt *time.Time
	Host      *Host
}

// Complete reports whether the header has scanned_at and host.
func (h Header) Complete() bool { return h.ScannedAt != nil && h.Host != nil }

// ReadHeader decodes "schema", "scanned_at" and "host" from the start of a
// snapshot document, stopping as soon as it has them: planet writes them
// first (see Write), so this reads a few hundred bytes, not the whole
// document. The caller bounds r. It fails when the document is not a JSON
// object, names a member twice (case-insensitively, as encoding/json
// matches them), reaches a record list ("connections", "listeners",
// "traffic") before the header is complete, or names a schema that is not
// a snapshot's; Header.Schema is set even then when the schema was read (a
// graph's "planet.graph/v1", for one). A header read without error may
// still be incomplete; a full Read gives the precise error.
func ReadHeader(r io.Reader) (Header, error) {
	var h Header
	dec := json.NewDecoder(bufio.NewReaderSize(r, 4096))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return h, errors.New("not an object")
	}
	seen := map[string]bool{}
	for dec.More() && !(h.Schema != "" && h.Complete()) {
		tok, err := dec.Token()
		if err != nil {
			return h, err
		}
		key, _ := tok.(string)
		if seen[strings.ToLower(key)] {
			return h, errors.New("member named twice")
		}
		seen[strings.ToLower(key)] = true
		switch key {
		case "schema":
			err = dec.Decode(&h.Schema)
		case "scanned_at":
			err = dec.Decode(&h.ScannedAt)
		case "host":
			err = dec.Decode(&h.Host)
		case "connections", "listeners", "traffic":
			return h, errors.New("header not first")
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return h, err
		}
		if h.Schema != "" && !IsSchema(h.Schema) {
			return h, ErrSchema
		}
	}
	return h, nil
}
