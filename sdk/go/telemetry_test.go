package rttdriver

// Health carries a backend's telemetry (docs/telemetry.md) and stays
// {"ok": true} for a backend without it.

import (
	"encoding/json"
	"testing"
)

type observed struct{ *DirBackend }

func (observed) Telemetry() ([]RouteLatency, *uint64) {
	depth := uint64(3)
	return []RouteLatency{{From: "a", To: "b", Buckets: []LatencyBucket{{LeUs: 250, Count: 7}}}}, &depth
}

func TestHealthReportsTheBackendsTelemetry(t *testing.T) {
	root := t.TempDir()
	d, err := Open("t", root, observed{NewDirBackend(root)})
	if err != nil {
		t.Fatal(err)
	}
	answer, refusal := d.Handle("Health", map[string]any{})
	if refusal != nil {
		t.Fatal(refusal)
	}
	got, _ := json.Marshal(answer)
	want := `{"ok":true,"queue_depth":3,"routes":[{"from":"a","to":"b","buckets":[{"le_us":250,"count":7}]}]}`
	if string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	plain, _ := Open("t", root, NewDirBackend(root))
	answer, _ = plain.Handle("Health", map[string]any{})
	if got, _ := json.Marshal(answer); string(got) != `{"ok":true}` {
		t.Fatalf("got %s", got)
	}
}
