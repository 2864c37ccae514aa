// Command rtt-cue-spans tells rtt where each exported value of a .cue config
// stands in that file, so rtt's diagnostics point at the CUE text instead of
// at the JSON that `cue export` printed.
//
//	rtt-cue-spans FILE.cue
//
// It evaluates FILE with the CUE library (the same evaluator as the `cue`
// tool) and prints one JSON object: {"spans": [{"path": [...], "start": B,
// "end": B}, ...]}, with byte offsets into FILE. Paths follow the export: only
// regular fields, list elements by index. A value whose source lies in another
// file (or nowhere, like a computed one) is left out; rtt then points at the
// nearest enclosing value that has a place. Evaluation errors go to stderr in
// cue's own format and exit 1, as `cue export` does.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/token"
)

type span struct {
	Path  []any `json:"path"`
	Start int   `json:"start"`
	End   int   `json:"end"`
	// The field's label, for values that are fields written in FILE.
	Key []int `json:"key,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rtt-cue-spans FILE.cue")
		os.Exit(2)
	}
	file, err := filepath.Abs(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	instances := load.Instances([]string{file}, &load.Config{Dir: filepath.Dir(file)})
	if len(instances) != 1 || instances[0].Err != nil {
		if len(instances) == 1 {
			errors.Print(os.Stderr, instances[0].Err, nil)
		}
		os.Exit(1)
	}
	value := cuecontext.New().BuildInstance(instances[0])
	if err := value.Validate(cue.Concrete(true)); err != nil {
		errors.Print(os.Stderr, err, nil)
		os.Exit(1)
	}
	var spans []span
	walk(value, file, []any{}, &spans)
	out, err := json.Marshal(map[string]any{"spans": spans})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(append(out, '\n'))
}

// walk records v's place, then its children's.
func walk(v cue.Value, file string, path []any, spans *[]span) {
	if s, ok := place(v, file); ok {
		s.Path = append([]any{}, path...)
		*spans = append(*spans, s)
	}
	switch v.IncompleteKind() {
	case cue.StructKind:
		fields, err := v.Fields()
		if err != nil {
			return
		}
		for fields.Next() {
			walk(fields.Value(), file, append(path, fields.Selector().Unquoted()), spans)
		}
	case cue.ListKind:
		items, err := v.List()
		if err != nil {
			return
		}
		for i := 0; items.Next(); i++ {
			walk(items.Value(), file, append(path, i), spans)
		}
	}
}

// place is the byte range of v's source in file (and of its label, for a
// field), when it has one there.
func place(v cue.Value, file string) (span, bool) {
	node := v.Source()
	var key []int
	if field, ok := node.(*ast.Field); ok {
		if inFile(field.Label.Pos(), file) {
			key = []int{field.Label.Pos().Offset(), field.Label.End().Offset()}
		}
		node = field.Value
	}
	if node != nil && inFile(node.Pos(), file) && node.End().IsValid() {
		return span{Start: node.Pos().Offset(), End: node.End().Offset(), Key: key}, true
	}
	if pos := v.Pos(); inFile(pos, file) {
		return span{Start: pos.Offset(), End: pos.Offset(), Key: key}, true
	}
	return span{}, false
}

func inFile(pos token.Pos, file string) bool {
	if !pos.IsValid() {
		return false
	}
	name, err := filepath.Abs(pos.Filename())
	return err == nil && name == file
}
