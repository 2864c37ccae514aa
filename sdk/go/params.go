package rttdriver

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

func utf8Valid(b []byte) bool { return utf8.Valid(b) }

func contains(list []string, item string) bool {
	for _, x := range list {
		if x == item {
			return true
		}
	}
	return false
}

func str(params map[string]any, key string) (string, *Refusal) {
	s, ok := params[key].(string)
	if !ok {
		return "", bad("`%s` must be a string", key)
	}
	return s, nil
}

// integer reads a JSON integer in [0, max]: no fraction, no exponent.
func integer(value any, max uint64) (uint64, bool) {
	n, ok := value.(json.Number)
	if !ok {
		return 0, false
	}
	u, err := strconv.ParseUint(string(n), 10, 64)
	return u, err == nil && u <= max
}

func epochOf(params map[string]any) (uint64, *Refusal) {
	e, ok := integer(params["epoch"], math.MaxUint64)
	if !ok {
		return 0, bad("`epoch` must be a non-negative integer")
	}
	return e, nil
}

func strs(params map[string]any, key string) ([]string, *Refusal) {
	items, ok := params[key].([]any)
	if !ok {
		return nil, bad("`%s` must be an array of strings", key)
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		s, ok := item.(string)
		if !ok {
			return nil, bad("`%s` must be an array of strings", key)
		}
		out = append(out, s)
	}
	return out, nil
}

func checked(what, name string) *Refusal {
	if !safeName.MatchString(name) {
		return bad("%s %q is not a safe name ([A-Za-z0-9_-][A-Za-z0-9._-]{0,127})", what, name)
	}
	return nil
}

func names(params map[string]any, key, what string) ([]string, *Refusal) {
	list, r := strs(params, key)
	if r != nil {
		return nil, r
	}
	for _, name := range list {
		if r := checked(what, name); r != nil {
			return nil, r
		}
	}
	return list, nil
}

func placements(params map[string]any) (HostPlacements, *Refusal) {
	hosts, ok := params["hosts"].(map[string]any)
	if !ok {
		return nil, bad("`hosts` must be an object")
	}
	out := HostPlacements{}
	for host, rows := range hosts {
		if r := checked("host", host); r != nil {
			return nil, r
		}
		list, ok := rows.([]any)
		if !ok {
			return nil, bad("placements of %s must be an array", host)
		}
		parsed := make([]Placement, 0, len(list))
		for _, row := range list {
			fields, _ := row.(map[string]any)
			agent, okAgent := fields["agent"].(string)
			numa, okNuma := integer(fields["numa"], math.MaxUint32)
			replicas, okReplicas := integer(fields["replicas"], math.MaxUint32)
			if !okAgent || !okNuma || !okReplicas {
				return nil, bad("a placement of %s must be {\"agent\": string, \"numa\": integer >= 0, \"replicas\": integer >= 0}", host)
			}
			parsed = append(parsed, Placement{Agent: agent, Numa: uint32(numa), Replicas: uint32(replicas)})
		}
		out[host] = parsed
	}
	return out, nil
}

func sortPlacements(rows []Placement) {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Agent != b.Agent {
			return a.Agent < b.Agent
		}
		if a.Numa != b.Numa {
			return a.Numa < b.Numa
		}
		return a.Replicas < b.Replicas
	})
}
