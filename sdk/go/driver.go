// Package rttdriver writes an rtt driver in Go (standard library only).
//
// A driver carries rtt's plans to the systems that run agents. It speaks
// protocol 1 (SPEC section 8, docs/drivers.md) over stdin and stdout. This
// package holds the whole protocol -- line framing with the 1 MiB cap, the
// envelopes, fencing by epoch, granted hosts and capabilities, durable
// two-phase transactions -- so a driver only says how to stage, commit,
// abort and read placements on its own system (a Backend, like DirBackend):
//
//	root := rttdriver.RootFromEnv("my-driver")
//	driver, err := rttdriver.Open("my-driver", root, rttdriver.NewDirBackend(root))
//	if err != nil { ... }
//	os.Exit(rttdriver.Run(driver))
//
// The same engine exists in every SDK; sdk/vectors holds the exchanges all
// of them answer alike. Checks run in one order: parameters parse
// (bad_request), a Tx has a session (not_open), the epoch is not below the
// highest seen (stale_epoch; a higher one is made durable first), the
// capability and hosts were granted (capability_denied), then the
// transaction's state decides.
package rttdriver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// Protocol is the version a driver reports from Probe.
const Protocol = 1

// MaxLine is the largest request or response line, newline excluded.
const MaxLine = 1 << 20

// PlacementsWrite is the capability Tx needs.
const PlacementsWrite = "placements.write"

// JournalDir is the engine's directory under the driver's root.
const JournalDir = ".rtt-driver"

var safeName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

// Refusal is a protocol error: a snake_case code and a message for people.
type Refusal struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

func refuse(code, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Message: fmt.Sprintf(format, args...)}
}

func bad(format string, args ...any) *Refusal { return refuse("bad_request", format, args...) }

func internal(err error) *Refusal { return &Refusal{Code: "internal", Message: err.Error()} }

// ErrFraming ends a session: a line over MaxLine, not UTF-8, or cut off.
var ErrFraming = errors.New("framing")

// Placement is one placement row on a host.
type Placement struct {
	Agent    string `json:"agent"`
	Numa     uint32 `json:"numa"`
	Replicas uint32 `json:"replicas"`
}

// HostPlacements maps a host name to its full desired placements.
type HostPlacements map[string][]Placement

// Backend is what a driver does on its own system. Every method may be
// called again for the same transaction after a crash, so each must be
// idempotent.
type Backend interface {
	// Stage stages the placements of each host durably, applying nothing.
	// A non-empty reason votes no.
	Stage(txn, plan string, hosts HostPlacements) (reason string, err error)
	// Commit applies what txn staged on hosts.
	Commit(txn string, hosts []string) error
	// Abort drops what txn staged on hosts (some may have nothing staged).
	Abort(txn string, hosts []string) error
	// Read returns the placements in force on host (any order).
	Read(host string) ([]Placement, error)
	// Healthy says whether the driver can work.
	Healthy() bool
}

// Capable is implemented by a Backend that needs more than placements.write.
type Capable interface{ Capabilities() []string }

// LatencyBucket is Count samples with latency at most LeUs µs.
type LatencyBucket struct {
	LeUs  uint64 `json:"le_us"`
	Count uint64 `json:"count"`
}

// RouteLatency is one route's samples, as histogram buckets.
type RouteLatency struct {
	From    string          `json:"from"`
	To      string          `json:"to"`
	Buckets []LatencyBucket `json:"buckets"`
}

// Reporting is implemented by a Backend that reports telemetry in Health
// (docs/telemetry.md): route latency seen since the previous Health, and
// the queue depth now (nil: not reported).
type Reporting interface {
	Telemetry() (routes []RouteLatency, queueDepth *uint64)
}

type txnRecord struct {
	State string   `json:"state"`
	Plan  string   `json:"plan"`
	Hosts []string `json:"hosts"`
}

type session struct {
	plan         string
	capabilities []string
	hosts        []string
}

// Driver is the protocol-1 engine over a Backend.
type Driver struct {
	Name    string
	Backend Backend
	journal string
	epoch   uint64
	session *session
}

// Open opens the journal under root (created if missing) and reads the
// highest epoch seen.
func Open(name, root string, backend Backend) (*Driver, error) {
	journal := filepath.Join(root, JournalDir)
	if err := os.MkdirAll(filepath.Join(journal, "txns"), 0o755); err != nil {
		return nil, err
	}
	d := &Driver{Name: name, Backend: backend, journal: journal}
	var saved struct {
		Epoch *uint64 `json:"epoch"`
	}
	found, err := readJSON(filepath.Join(journal, "epoch.json"), &saved)
	if err != nil {
		return nil, err
	}
	if found {
		if saved.Epoch == nil {
			return nil, fmt.Errorf("%s: no epoch", filepath.Join(journal, "epoch.json"))
		}
		d.epoch = *saved.Epoch
	}
	return d, nil
}

func (d *Driver) fence(epoch uint64) *Refusal {
	if epoch < d.epoch {
		return refuse("stale_epoch", "epoch %d is below %d: a newer coordinator has taken over", epoch, d.epoch)
	}
	if epoch > d.epoch {
		if err := writeJSON(filepath.Join(d.journal, "epoch.json"), map[string]uint64{"epoch": epoch}); err != nil {
			return internal(err)
		}
		d.epoch = epoch
	}
	return nil
}

func (d *Driver) recordPath(txn string) string { return filepath.Join(d.journal, "txns", txn+".json") }

func (d *Driver) record(txn string) (*txnRecord, *Refusal) {
	var r txnRecord
	found, err := readJSON(d.recordPath(txn), &r)
	if err != nil {
		return nil, internal(err)
	}
	if !found {
		return nil, nil
	}
	return &r, nil
}

func (d *Driver) save(txn string, r *txnRecord) *Refusal {
	if err := writeJSON(d.recordPath(txn), r); err != nil {
		return internal(err)
	}
	return nil
}

// Handle answers one request: a result object or a refusal.
func (d *Driver) Handle(method string, params map[string]any) (any, *Refusal) {
	switch method {
	case "Probe":
		caps := []string{PlacementsWrite}
		if c, ok := d.Backend.(Capable); ok {
			caps = c.Capabilities()
		}
		return map[string]any{"protocol": Protocol, "name": d.Name, "capabilities": caps, "epoch": d.epoch}, nil
	case "Open":
		return d.open(params)
	case "Tx":
		return d.tx(params)
	case "Rx":
		return d.rx(params)
	case "Health":
		answer := map[string]any{"ok": d.Backend.Healthy()}
		if r, ok := d.Backend.(Reporting); ok {
			routes, depth := r.Telemetry()
			if len(routes) > 0 {
				answer["routes"] = routes
			}
			if depth != nil {
				answer["queue_depth"] = *depth
			}
		}
		return answer, nil
	default: // Close
		return map[string]any{}, nil
	}
}

func (d *Driver) open(params map[string]any) (any, *Refusal) {
	plan, r := str(params, "plan")
	if r != nil {
		return nil, r
	}
	epoch, r := epochOf(params)
	if r != nil {
		return nil, r
	}
	caps, r := strs(params, "capabilities")
	if r != nil {
		return nil, r
	}
	hosts, r := names(params, "hosts", "host")
	if r != nil {
		return nil, r
	}
	if r := d.fence(epoch); r != nil {
		return nil, r
	}
	d.session = &session{plan: plan, capabilities: caps, hosts: hosts}
	return map[string]any{}, nil
}

func (d *Driver) tx(params map[string]any) (any, *Refusal) {
	phase, r := str(params, "phase")
	if r != nil {
		return nil, r
	}
	epoch, r := epochOf(params)
	if r != nil {
		return nil, r
	}
	txn, r := str(params, "txn")
	if r != nil {
		return nil, r
	}
	if r := checked("txn", txn); r != nil {
		return nil, r
	}
	var hosts HostPlacements
	switch phase {
	case "prepare":
		if hosts, r = placements(params); r != nil {
			return nil, r
		}
	case "commit", "abort":
	default:
		return nil, bad("`phase` must be \"prepare\", \"commit\" or \"abort\", not %q", phase)
	}
	if d.session == nil {
		return nil, refuse("not_open", "Tx before Open")
	}
	if r := d.fence(epoch); r != nil {
		return nil, r
	}
	if !contains(d.session.capabilities, PlacementsWrite) {
		return nil, refuse("capability_denied", "`%s` was not granted", PlacementsWrite)
	}
	record, r := d.record(txn)
	if r != nil {
		return nil, r
	}
	switch phase {
	case "prepare":
		return d.prepare(txn, hosts, record)
	case "commit":
		return d.commit(txn, record)
	default:
		return d.abort(txn, record)
	}
}

func (d *Driver) prepare(txn string, hosts HostPlacements, record *txnRecord) (any, *Refusal) {
	names := make([]string, 0, len(hosts))
	for host := range hosts {
		names = append(names, host)
	}
	sort.Strings(names)
	for _, host := range names {
		if !contains(d.session.hosts, host) {
			return nil, refuse("capability_denied", "host `%s` was not granted", host)
		}
	}
	if record != nil {
		switch record.State {
		case "prepared":
			return map[string]any{"vote": "yes"}, nil
		case "committed", "aborted":
			return nil, refuse("txn_conflict", "transaction %s is already %s", txn, record.State)
		}
	}
	rec := &txnRecord{State: "preparing", Plan: d.session.plan, Hosts: names}
	if r := d.save(txn, rec); r != nil {
		return nil, r
	}
	for _, rows := range hosts {
		sortPlacements(rows)
	}
	reason, err := d.Backend.Stage(txn, d.session.plan, hosts)
	if err != nil {
		return nil, internal(err)
	}
	if reason != "" {
		return map[string]any{"vote": "no", "reason": reason}, nil
	}
	rec.State = "prepared"
	if r := d.save(txn, rec); r != nil {
		return nil, r
	}
	return map[string]any{"vote": "yes"}, nil
}

func (d *Driver) commit(txn string, record *txnRecord) (any, *Refusal) {
	if record == nil || record.State == "preparing" {
		return nil, refuse("unknown_txn", "transaction %s was never prepared here", txn)
	}
	switch record.State {
	case "committed":
		return map[string]any{}, nil
	case "aborted":
		return nil, refuse("txn_conflict", "transaction %s was aborted", txn)
	}
	if err := d.Backend.Commit(txn, record.Hosts); err != nil {
		return nil, internal(err)
	}
	record.State = "committed"
	if r := d.save(txn, record); r != nil {
		return nil, r
	}
	return map[string]any{}, nil
}

func (d *Driver) abort(txn string, record *txnRecord) (any, *Refusal) {
	// Never prepared here: record the abort, so a late prepare cannot stage.
	if record == nil {
		record = &txnRecord{State: "preparing", Hosts: []string{}}
	}
	switch record.State {
	case "aborted":
		return map[string]any{}, nil
	case "committed":
		return nil, refuse("txn_conflict", "transaction %s was committed", txn)
	}
	if err := d.Backend.Abort(txn, record.Hosts); err != nil {
		return nil, internal(err)
	}
	record.State = "aborted"
	if r := d.save(txn, record); r != nil {
		return nil, r
	}
	return map[string]any{}, nil
}

func (d *Driver) rx(params map[string]any) (any, *Refusal) {
	hosts, r := names(params, "hosts", "host")
	if r != nil {
		return nil, r
	}
	if d.session != nil {
		for _, host := range hosts {
			if !contains(d.session.hosts, host) {
				return nil, refuse("capability_denied", "host `%s` was not granted", host)
			}
		}
	}
	out := map[string]any{}
	for _, host := range hosts {
		rows, err := d.Backend.Read(host)
		if err != nil {
			return nil, internal(err)
		}
		if rows == nil {
			rows = []Placement{}
		}
		sortPlacements(rows)
		out[host] = rows
	}
	return map[string]any{"hosts": out}, nil
}

// --- the envelope and the loop -------------------------------------------

type response struct {
	ID     string   `json:"id"`
	Result any      `json:"result"`
	Error  *Refusal `json:"error"`
}

var methods = map[string]bool{"Probe": true, "Open": true, "Tx": true, "Rx": true, "Health": true, "Close": true}

// Respond answers one request line and says whether it was Close.
func (d *Driver) Respond(line []byte) (any, bool) {
	fail := func(id string, r *Refusal) (any, bool) { return response{ID: id, Error: r}, false }
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		return fail("", bad("not JSON: %v", err))
	}
	if _, err := decoder.Token(); err != io.EOF {
		return fail("", bad("not JSON: trailing characters"))
	}
	request, ok := value.(map[string]any)
	if !ok {
		return fail("", bad("a request must be a JSON object"))
	}
	id, ok := request["id"].(string)
	if !ok {
		return fail("", bad("`id` must be a string"))
	}
	method, ok := request["method"].(string)
	if !ok {
		return fail(id, bad("`method` must be a string"))
	}
	params, ok := request["params"].(map[string]any)
	if !ok {
		return fail(id, bad("`params` must be an object"))
	}
	if !methods[method] {
		return fail(id, refuse("unknown_method", "unknown method %q", method))
	}
	result, r := d.Handle(method, params)
	if r != nil {
		return fail(id, r)
	}
	return response{ID: id, Result: result}, method == "Close"
}

// Serve answers request lines from in until Close or the end of input. It
// returns an error wrapping ErrFraming when the input breaks the framing.
func Serve(d *Driver, in io.Reader, out io.Writer) error {
	reader := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := readLine(reader)
		if err != nil {
			return err
		}
		if line == nil {
			return nil
		}
		reply, done := d.Respond(line)
		encoded, err := json.Marshal(reply)
		if err != nil {
			return err
		}
		if _, err := out.Write(append(encoded, '\n')); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func readLine(reader *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := reader.ReadSlice('\n')
		line = append(line, chunk...)
		switch {
		case err == nil:
			line = line[:len(line)-1]
			if len(line) > MaxLine {
				return nil, fmt.Errorf("%w: request line longer than %d bytes", ErrFraming, MaxLine)
			}
			if !utf8Valid(line) {
				return nil, fmt.Errorf("%w: request line is not UTF-8", ErrFraming)
			}
			return line, nil
		case len(line) > MaxLine:
			return nil, fmt.Errorf("%w: request line longer than %d bytes", ErrFraming, MaxLine)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(line) == 0 {
				return nil, nil
			}
			return nil, fmt.Errorf("%w: input ended inside a line (%d bytes without a newline)", ErrFraming, len(line))
		default:
			return nil, err
		}
	}
}

// RootFromEnv is the driver's state directory: RTT_DRIVER_ROOT (set by rtt
// apply and rtt driver test), else --root DIR, else .rtt/drivers/NAME.
func RootFromEnv(name string) string {
	if root := os.Getenv("RTT_DRIVER_ROOT"); root != "" {
		return root
	}
	for i, arg := range os.Args[:len(os.Args)-1] {
		if arg == "--root" {
			return os.Args[i+1]
		}
	}
	return filepath.Join(".rtt", "drivers", name)
}

// SocketFromEnv is the Unix socket to listen on instead of stdio:
// RTT_DRIVER_SOCKET (set by rtt driver test --socket), else --socket PATH;
// "" for stdio.
func SocketFromEnv() string {
	if path := os.Getenv("RTT_DRIVER_SOCKET"); path != "" {
		return path
	}
	for i, arg := range os.Args[:len(os.Args)-1] {
		if arg == "--socket" {
			return os.Args[i+1]
		}
	}
	return ""
}

// Listen makes a resident driver: it listens on a Unix socket at path and
// serves one connection at a time, each until Close or its end; a
// connection that breaks the framing is dropped. A socket file left by a
// killed predecessor is replaced; one a live driver answers on is not. It
// returns only on an error.
func Listen(d *Driver, path string) error {
	if _, err := os.Stat(path); err == nil {
		if probe, err := net.Dial("unix", path); err == nil {
			probe.Close()
			return fmt.Errorf("another driver listens on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	listener, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	defer listener.Close()
	for {
		connection, err := listener.Accept()
		if err != nil {
			return err
		}
		if err := Serve(d, connection, connection); err != nil {
			fmt.Fprintf(os.Stderr, "%s: dropping a connection: %v\n", d.Name, err)
		}
		connection.Close()
		d.session = nil
	}
}

// Run serves stdin and stdout, or listens on a socket (SocketFromEnv), and
// returns the exit code. Logs go to stderr.
func Run(d *Driver) int {
	if path := SocketFromEnv(); path != "" {
		err := Listen(d, path)
		fmt.Fprintf(os.Stderr, "%s: cannot listen on %s: %v\n", d.Name, path, err)
		return 1
	}
	if err := Serve(d, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "%s: stopping: %v\n", d.Name, err)
		return 1
	}
	return 0
}
