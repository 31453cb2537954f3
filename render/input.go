package render

import "github.com/planetdeps/planet/document"

// Input is what planet render reads: one snapshot or one merged graph, as
// document.ReadFile reads it.
type Input = document.Document
