package graph

// Level says how much a Note matters.
type Level string

const (
	// Info: something the user asked for happened (an older snapshot left out).
	Info Level = "note"
	// Warning: an input was skipped because it could not be used.
	Warning Level = "warning"
)

// Note is something the caller should tell the user; the package never prints.
type Note struct {
	Level Level
	Name  string // the input it is about: a path, "-" or "- (document N)"
	Msg   string
}

func (n Note) String() string { return string(n.Level) + ": " + n.Name + ": " + n.Msg }
