// Package pipeline is the processor half of the driver protocol
// (drivers/PROTOCOL.md, Processors) for the Go drivers: the configure and
// close commands, the events, and the consume-transform-produce loop that
// every library's processor shares (the transaction counter n, poll runs, the
// at-least-once commit cadence). A library supplies a Processor: its poll,
// its transaction, its produce and offset commit, its rewind.
package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"eoscheck/drivers/protocol"
)

const (
	// PollWait is how long a poll waits for its first record.
	PollWait = 100 * time.Millisecond
	// MaxBatch is the most records one poll hands to one transaction.
	MaxBatch = 500
	// aloCommitEvery: at least once, offsets are committed at most this
	// often, as an application commits now and then rather than per batch.
	aloCommitEvery = time.Second
	// closeBound is how long closing the libraries may take once the loop
	// stopped on its own.
	closeBound = 5 * time.Second
)

// The ends of a transaction (txn result) and of an offset commit.
const (
	Committed = "committed"
	Aborted   = "aborted"
	Fenced    = "fenced"
	Unknown   = "unknown"
	Fatal     = "fatal"
)

// Record is one input record as the loop needs it.
type Record struct {
	Partition int32
	Offset    int64
	Key       []byte // nil: no key
	Value     []byte
}

// Offsets are offsets of the input topic by partition: the next ones to
// read, or where a rewind moved the consumer.
type Offsets map[int32]int64

// Partitions are the partitions of o in order.
func (o Offsets) Partitions() []int32 {
	ps := make([]int32, 0, len(o))
	for p := range o {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Ending is how a transaction ended.
type Ending struct {
	Result string // Committed, Aborted, Fenced, Unknown or Fatal
	Error  string // NAME: text, unless Committed
}

// Failed is an ending other than Committed.
func Failed(result, name string, err error) Ending {
	return Ending{Result: result, Error: name + ": " + err.Error()}
}

// Processor is one library's consumer and producer, driven by the Loop from
// one goroutine; rebalance callbacks reach the Loop through Assigned,
// Revoked and Lost.
type Processor interface {
	// Poll is one poll: the records delivered, in delivery order, the first
	// waited for up to wait. An error ends the processor (fatal).
	Poll(wait time.Duration) ([]Record, error)
	// Polled comes after every poll, once its records are processed: the
	// group may rebalance again (the library held it off meanwhile).
	Polled()
	// Transaction (exactly once) processes batch as transaction n: begin,
	// the outputs, the next offsets sent to it under the group's metadata,
	// commit; an abort where it must. It says how it ended.
	Transaction(n int64, batch []Record, next Offsets) Ending
	// Produce (at least once) writes batch's outputs for commit n and waits
	// for all of them; the first error if any failed.
	Produce(n int64, batch []Record) error
	// Commit (at least once) commits offsets to the group, synchronously.
	Commit(offsets Offsets) error
	// Rewind moves the consumer back to the group's committed offsets after
	// an abort or a failed send. from is, for each partition with
	// uncommitted work, its first offset polled since its last commit (where
	// the library has no committed offset, that is where consuming began).
	// It returns where each partition was moved, for the seek events (nil
	// when the library cannot say).
	Rewind(from Offsets) Offsets
	// Close closes consumer and producer; the consumer's last revoke is
	// reported as ever.
	Close()
}

// Start builds a library's processor for c, or returns a protocol.Rejected
// error (config-rejected) or another error (fatal). Its rebalance callbacks
// report to loop.
type Start func(c *Configure, loop *Loop) (Processor, protocol.Started, error)

// Configure is a processor's configure command.
type Configure struct {
	Type            string            `json:"type"`
	Protocol        int               `json:"protocol"`
	Role            *string           `json:"role"`
	Bootstrap       string            `json:"bootstrap"`
	Slot            int               `json:"processor"`
	Input           string            `json:"input"`
	Output          string            `json:"output"`
	Group           string            `json:"group"`
	TransactionalID *string           `json:"transactional_id"`
	Guarantee       string            `json:"guarantee"`
	Config          map[string]string `json:"config"`
	Consumer        map[string]string `json:"consumer"`
	Tuning          map[string]string `json:"tuning"`
}

// Brokers splits the bootstrap list.
func (c *Configure) Brokers() []string { return strings.Split(c.Bootstrap, ",") }

// ExactlyOnce says whether the guarantee is exactly once.
func (c *Configure) ExactlyOnce() bool { return c.Guarantee == "exactly-once" }

// Producer is the producer part as the producer drivers take it: config
// (with the slot's transactional.id when exactly once) and tuning.
func (c *Configure) Producer() *protocol.Configure {
	config := map[string]string{}
	for name, v := range c.Config {
		config[name] = v
	}
	if c.ExactlyOnce() {
		config[protocol.TransactionalID] = *c.TransactionalID
	}
	return &protocol.Configure{Protocol: protocol.Version, Bootstrap: c.Bootstrap, Topic: c.Output,
		Producer: c.Slot, Config: config, Tuning: c.Tuning}
}

// ConsumerDurations applies the consumer settings: each name set takes, a
// duration in milliseconds (Kafka's standard consumer names); any other name
// is refused, naming library.
func (c *Configure) ConsumerDurations(library string, set map[string]func(time.Duration)) error {
	for _, name := range protocol.Names(c.Consumer) {
		apply, ok := set[name]
		if !ok {
			return protocol.RejectSetting(name, "not a consumer setting the %s processor maps (it maps %v)", library, protocol.Names(set))
		}
		d, err := protocol.Millis(c.Consumer[name])
		if err != nil {
			return protocol.RejectSetting(name, "%v", err)
		}
		apply(d)
	}
	return nil
}

// check refuses a configure the protocol does not allow.
func (c *Configure) check() error {
	switch {
	case c.Type != "configure":
		return fmt.Errorf("protocol error: the first command is %q, not configure", c.Type)
	case c.Protocol != protocol.Version:
		return fmt.Errorf("protocol error: this processor speaks protocol %d, not %d", protocol.Version, c.Protocol)
	case c.Role == nil:
		return errors.New("protocol error: this is a processor; configure's role is absent (a producer's configure?)")
	case *c.Role != "processor":
		return fmt.Errorf("protocol error: this is a processor; configure's role is %q", *c.Role)
	case c.Guarantee != "exactly-once" && c.Guarantee != "at-least-once":
		return fmt.Errorf("protocol error: guarantee must be exactly-once or at-least-once, not %q", c.Guarantee)
	case c.ExactlyOnce() && c.TransactionalID == nil:
		return errors.New("protocol error: exactly-once needs a transactional_id")
	}
	return nil
}

// Selected says whether the binary runs as a processor (`-processor`).
func Selected() bool { return len(os.Args) == 2 && os.Args[1] == "-processor" }

// Serve speaks the processor protocol on stdin/stdout with the library's
// processor, then exits the process.
func Serve(library string, start Start) {
	ev := newEvents(os.Stdout)
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	line, err := in.ReadBytes('\n')
	if len(line) == 0 && err != nil {
		ev.exit(1, "fatal", "error", "end of input before configure")
	}
	var c Configure
	if err := json.Unmarshal(line, &c); err != nil {
		ev.exit(1, "fatal", "error", fmt.Sprintf("protocol error: bad configure line %.200q: %v", line, err))
	}
	if err := c.check(); err != nil {
		ev.exit(1, "fatal", "error", err.Error())
	}
	protocol.Logf("configure: %s", line)
	loop := &Loop{ev: ev, exactlyOnce: c.ExactlyOnce(), uncommitted: Offsets{}, pending: Offsets{}, lastCommit: time.Now()}
	p, started, err := start(&c, loop)
	var rej *protocol.Rejected
	switch {
	case errors.As(err, &rej):
		ev.exit(0, "config-rejected", "reason", rej.Reason)
	case err != nil:
		ev.exit(1, "fatal", "error", err.Error())
	}
	loop.p = p
	ev.start(protocol.StartedLine(library, started))
	closing, stopped, ended := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		loop.run(closing)
		close(stopped)
		p.Close()
		close(ended)
	}()
	timeout := awaitClose(in, ev, stopped)
	close(closing)
	select {
	case <-ended:
	case <-time.After(timeout):
		protocol.Logf("close: the loop did not finish within %v; closed anyway", timeout)
	}
	ev.exit(0, "closed", "", "")
}

// awaitClose reads commands until close (its timeout) or end of input (10 s),
// or until the loop stopped on its own (then closing is bounded by
// closeBound).
func awaitClose(in *bufio.Reader, ev *Events, stopped <-chan struct{}) time.Duration {
	commands := make(chan []byte)
	go func() {
		defer close(commands)
		for {
			line, err := in.ReadBytes('\n')
			if len(line) > 0 {
				commands <- line
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-stopped:
			return closeBound
		case line, ok := <-commands:
			if !ok {
				protocol.Logf("end of input: closing as with close timeout_ms 10000")
				return 10 * time.Second
			}
			if timeout, ok := closeCommand(line, ev); ok {
				return timeout
			}
		}
	}
}

// closeCommand reads one command after configure: a close gives its timeout;
// anything else is answered with fatal (a blank line is ignored).
func closeCommand(line []byte, ev *Events) (time.Duration, bool) {
	var cmd struct {
		Type      string `json:"type"`
		TimeoutMs *int64 `json:"timeout_ms"`
	}
	switch err := json.Unmarshal(line, &cmd); {
	case len(bytes.TrimSpace(line)) == 0:
	case err != nil:
		ev.Fatal(fmt.Sprintf("protocol error: bad command line %.200q: %v", line, err))
	case cmd.Type == "close":
		timeout := int64(10000)
		if cmd.TimeoutMs != nil {
			timeout = *cmd.TimeoutMs
		}
		return time.Duration(timeout) * time.Millisecond, true
	default:
		ev.Fatal(fmt.Sprintf("protocol error: unknown command type %q", cmd.Type))
	}
	return 0, false
}

// OutputValue is the output of r in commit n of processor slot:
// `eosp1:<partition>:<offset>:<slot>:<n>:` and r's value.
func OutputValue(r Record, slot int, n int64) []byte {
	head := fmt.Sprintf("eosp1:%d:%d:%d:%d:", r.Partition, r.Offset, slot, n)
	return append([]byte(head), r.Value...)
}

// Runs are batch's records as runs [partition, first, last] of consecutive
// offsets per partition, in delivery order: an offset read_committed skips
// ends one run, the next delivered starts another.
func Runs(batch []Record) [][3]int64 {
	var runs [][3]int64
	open := map[int32]int{} // partition -> index of its last run
	for _, r := range batch {
		i, ok := open[r.Partition]
		if ok && runs[i][2]+1 == r.Offset {
			runs[i][2] = r.Offset
			continue
		}
		open[r.Partition] = len(runs)
		runs = append(runs, [3]int64{int64(r.Partition), r.Offset, r.Offset})
	}
	return runs
}

// NextOffsets is the next offset to read of every partition batch holds.
func NextOffsets(batch []Record) Offsets {
	next := Offsets{}
	for _, r := range batch {
		next[r.Partition] = r.Offset + 1
	}
	return next
}

// Loop is the consume-transform-produce loop (PROTOCOL.md, "What a processor
// does"), the same for every library.
type Loop struct {
	ev          *Events
	p           Processor
	exactlyOnce bool

	// mu guards what rebalance callbacks share with the loop. At least once
	// it is held across a batch's produce and commit, so that a revoke's
	// commit waits for them.
	mu sync.Mutex
	// n is the transaction counter (from 1): exactly once, the batch being
	// processed; at least once, the offset commit the batches now go into.
	n int64
	// uncommitted is, per partition, the first offset polled since its last
	// commit: where a rewind goes when the library knows no commit.
	uncommitted Offsets
	// pending (at least once) are the next offsets of what was written and
	// not committed yet; lastCommit when the last commit was made.
	pending    Offsets
	lastCommit time.Time
}

// run polls and processes until closing or an end the processor cannot go
// on from; at least once, what is pending is committed then.
func (l *Loop) run(closing <-chan struct{}) {
	for !isClosed(closing) && l.step() {
	}
	if !l.exactlyOnce {
		l.CommitDue(true)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// step is one poll and its processing; false when the processor cannot go on.
func (l *Loop) step() bool {
	defer l.p.Polled()
	batch, err := l.p.Poll(PollWait)
	if err != nil {
		l.ev.Fatal("poll: " + err.Error())
		return false
	}
	return l.process(batch)
}

// process handles one poll's records; false when the processor cannot go on.
func (l *Loop) process(batch []Record) bool {
	switch {
	case len(batch) == 0 && !l.exactlyOnce:
		l.CommitDue(false)
	case len(batch) == 0:
	case l.exactlyOnce:
		return l.transaction(batch)
	default:
		l.atLeastOnce(batch)
	}
	return true
}

// polled counts the batch and reports it. Under mu.
func (l *Loop) polled(batch []Record) {
	if l.exactlyOnce || len(l.pending) == 0 {
		l.n++
	}
	l.ev.emit(struct {
		Type    string     `json:"type"`
		N       int64      `json:"n"`
		Records [][3]int64 `json:"records"`
	}{"poll", l.n, Runs(batch)})
	for _, r := range batch {
		if _, ok := l.uncommitted[r.Partition]; !ok {
			l.uncommitted[r.Partition] = r.Offset
		}
	}
}

// transaction is one transaction of the batch. mu is not held during the
// library's calls: a rebalance callback may run meanwhile (franz-go's
// GroupTransactSession waits for its own callbacks inside End).
func (l *Loop) transaction(batch []Record) bool {
	l.mu.Lock()
	l.polled(batch)
	n := l.n
	l.mu.Unlock()
	next := NextOffsets(batch)
	end := l.p.Transaction(n, batch, next)
	l.ev.ending("txn", n, end.Result, next, end.Error)
	switch end.Result {
	case Committed:
		l.mu.Lock()
		l.committed(next)
		l.mu.Unlock()
	case Aborted:
		l.rewind()
	default:
		return false // fenced, unknown, fatal: the harness starts the slot anew
	}
	return true
}

// atLeastOnce writes the batch; its offsets are committed when due. A failed
// send commits nothing of what is pending, which is read again.
func (l *Loop) atLeastOnce(batch []Record) {
	l.mu.Lock()
	l.polled(batch)
	merge(l.pending, NextOffsets(batch))
	err := l.p.Produce(l.n, batch)
	if err == nil {
		l.commitDue(false)
		l.mu.Unlock()
		return
	}
	l.ev.ending("commit", l.n, "failed", l.pending, "send: "+err.Error())
	l.pending = Offsets{}
	l.mu.Unlock()
	l.rewind()
}

// CommitDue (at least once) commits what is pending once aloCommitEvery has
// passed since the last commit, or now; a library's revoke callback calls it
// with now before its partitions go.
func (l *Loop) CommitDue(now bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commitDue(now)
}

func (l *Loop) commitDue(now bool) {
	if len(l.pending) == 0 || !now && time.Since(l.lastCommit) < aloCommitEvery {
		return
	}
	offsets := l.pending
	l.pending, l.lastCommit = Offsets{}, time.Now()
	if err := l.p.Commit(offsets); err != nil {
		l.ev.ending("commit", l.n, "failed", offsets, err.Error())
		return
	}
	l.ev.ending("commit", l.n, "ok", offsets, "")
	l.committed(offsets)
}

// committed: the partitions' work up to offsets is committed.
func (l *Loop) committed(offsets Offsets) {
	for p := range offsets {
		delete(l.uncommitted, p)
	}
}

// rewind moves the consumer back to the committed offsets and reports where.
func (l *Loop) rewind() {
	l.mu.Lock()
	from := l.uncommitted
	l.uncommitted = Offsets{}
	l.mu.Unlock()
	to := l.p.Rewind(from)
	for _, p := range to.Partitions() {
		l.ev.emit(struct {
			Type      string `json:"type"`
			Partition int32  `json:"partition"`
			Offset    int64  `json:"offset"`
		}{"seek", p, to[p]})
	}
}

// Assigned reports partitions the group gave this instance.
func (l *Loop) Assigned(partitions []int32) { l.rebalanced("assigned", partitions) }

// Revoked reports partitions taken back in an orderly rebalance; at least
// once, what is pending is committed first.
func (l *Loop) Revoked(partitions []int32) {
	if !l.exactlyOnce {
		l.CommitDue(true)
	}
	l.rebalanced("revoked", partitions)
}

// Lost reports partitions lost with the member's place in the group.
func (l *Loop) Lost(partitions []int32) { l.rebalanced("lost", partitions) }

func (l *Loop) rebalanced(what string, partitions []int32) {
	partitions = append([]int32{}, partitions...) // [] rather than null
	slices.Sort(partitions)
	l.mu.Lock()
	for _, p := range partitions {
		delete(l.uncommitted, p)
	}
	l.mu.Unlock()
	l.ev.emit(struct {
		Type       string  `json:"type"`
		Partitions []int32 `json:"partitions"`
	}{what, partitions})
}

// Session reports the transactional producer's id and epoch.
func (l *Loop) Session(pid int64, epoch int16) { l.ev.session(pid, epoch) }

func merge(into, from Offsets) {
	for p, o := range from {
		into[p] = o
	}
}

// Events writes the processor's events, whole lines, flushed one by one.
type Events struct {
	mu       sync.Mutex
	w        *bufio.Writer
	started  bool
	early    [][]byte // events before started
	sessions map[[2]int64]bool
	muted    bool // after closed: nothing more
}

func newEvents(w io.Writer) *Events {
	return &Events{w: bufio.NewWriter(w), sessions: map[[2]int64]bool{}}
}

// emit writes one event; one before started (a rebalance callback of a
// library that joins the group as it starts) waits until just after it.
func (e *Events) emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the events are plain structs
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		e.early = append(e.early, b)
		return
	}
	e.line(b)
}

func (e *Events) line(b []byte) {
	if e.muted {
		return
	}
	e.w.Write(append(b, '\n'))
	if err := e.w.Flush(); err != nil {
		protocol.Logf("stdout: %v", err)
	}
}

func (e *Events) start(started string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.line([]byte(started))
	e.started = true
	for _, b := range e.early {
		e.line(b)
	}
	e.early = nil
}

func (e *Events) session(pid int64, epoch int16) {
	e.mu.Lock()
	key := [2]int64{pid, int64(epoch)}
	seen := e.sessions[key]
	e.sessions[key] = true
	e.mu.Unlock()
	if seen {
		return
	}
	protocol.Logf("session: producer id %d epoch %d", pid, epoch)
	e.emit(struct {
		Type  string `json:"type"`
		PID   int64  `json:"pid"`
		Epoch int16  `json:"epoch"`
	}{"session", pid, epoch})
}

// ending is a txn or commit event.
func (e *Events) ending(kind string, n int64, result string, offsets Offsets, error string) {
	protocol.Logf("%s %d: %s %v %s", kind, n, result, offsets, error)
	e.emit(struct {
		Type    string  `json:"type"`
		N       int64   `json:"n"`
		Result  string  `json:"result"`
		Offsets Offsets `json:"offsets"`
		Error   string  `json:"error,omitempty"`
	}{kind, n, result, offsets, error})
}

// Fatal reports that the processor cannot go on (closed follows).
func (e *Events) Fatal(error string) {
	protocol.Logf("fatal: %s", error)
	e.emit(map[string]string{"type": "fatal", "error": error})
}

// exit writes the last event (type, with field: text when field is given)
// and exits with code.
func (e *Events) exit(code int, kind, field, text string) {
	ev := map[string]string{"type": kind}
	if field != "" {
		protocol.Logf("%s: %s", kind, text)
		ev[field] = text
	}
	b, _ := json.Marshal(ev)
	e.mu.Lock()
	e.line(b)
	e.muted = true
	e.mu.Unlock()
	os.Exit(code)
}
