package rttdriver

// The shared protocol-1 vectors (sdk/vectors, README there) against this SDK.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func vectorsDir() string {
	if dir := os.Getenv("RTT_VECTORS"); dir != "" {
		return dir
	}
	return filepath.Join("..", "vectors")
}

// matches: equal JSON values, except that an expected error {"code": C}
// matches any error with code C and a non-empty message.
func matches(expected, actual any) bool {
	switch e := expected.(type) {
	case map[string]any:
		a, ok := actual.(map[string]any)
		if !ok {
			return false
		}
		if code, only := e["code"]; only && len(e) == 1 {
			message, _ := a["message"].(string)
			return len(a) == 2 && reflect.DeepEqual(a["code"], code) && message != ""
		}
		if len(e) != len(a) {
			return false
		}
		for k, v := range e {
			if w, ok := a[k]; !ok || !matches(v, w) {
				return false
			}
		}
		return true
	case []any:
		a, ok := actual.([]any)
		if !ok || len(a) != len(e) {
			return false
		}
		for i := range e {
			if !matches(e[i], a[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(expected, actual)
	}
}

type segment struct {
	input     bytes.Buffer
	expected  []any
	oversized bool
}

func TestEverySharedVectorIsAnsweredAsWritten(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(vectorsDir(), "*.json"))
	if err != nil || len(files) < 7 {
		t.Fatalf("the vectors are missing: %v %v", files, err)
	}
	sort.Strings(files)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var vector struct {
			Steps []map[string]any `json:"steps"`
		}
		if err := json.Unmarshal(data, &vector); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		segments := []*segment{{}}
		for _, step := range vector.Steps {
			s := segments[len(segments)-1]
			switch {
			case step["restart"] != nil:
				segments = append(segments, &segment{})
			case step["oversized_line"] != nil:
				s.input.WriteString(strings.Repeat("x", MaxLine+1) + "\n")
				s.oversized = true
			default:
				line, isLine := step["line"].(string)
				if !isLine {
					var buf bytes.Buffer
					encoder := json.NewEncoder(&buf)
					encoder.SetEscapeHTML(false)
					if err := encoder.Encode(step["request"]); err != nil {
						t.Fatal(err)
					}
					line = strings.TrimSuffix(buf.String(), "\n")
				}
				s.input.WriteString(line + "\n")
				s.expected = append(s.expected, step["response"])
			}
		}
		root := t.TempDir()
		for index, s := range segments {
			driver, err := Open("vectors", root, NewDirBackend(root))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = Serve(driver, &s.input, &out)
			if (err != nil) != s.oversized || (err != nil && !errors.Is(err, ErrFraming)) {
				t.Fatalf("%s: segment %d ended with %v", file, index, err)
			}
			text := out.String()
			lines := strings.Split(text, "\n")
			lines = lines[:len(lines)-1]
			if len(lines) != len(s.expected) {
				t.Fatalf("%s: segment %d: %d responses, expected %d:\n%s", file, index, len(lines), len(s.expected), text)
			}
			for i, line := range lines {
				if !strings.HasPrefix(line, `{"id":`) || !strings.Contains(line, `,"result":`) {
					t.Fatalf("%s: keys out of order: %s", file, line)
				}
				var actual any
				if err := json.Unmarshal([]byte(line), &actual); err != nil {
					t.Fatalf("%s: %s: %v", file, line, err)
				}
				if !matches(s.expected[i], actual) {
					t.Fatalf("%s:\n  expected %v\n  actual   %s", file, s.expected[i], line)
				}
			}
		}
	}
}
