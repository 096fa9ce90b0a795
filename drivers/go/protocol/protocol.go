// Package protocol implements the eoscheck driver protocol (drivers/PROTOCOL.md)
// for the Go drivers: reading commands, tracking open sends and writing events.
// A driver supplies a Driver: the Start function that builds its library's
// producer from the configuration, and the native option names it takes.
package protocol

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is the newest protocol version these drivers speak; they take 2
// (3 without transactions) as well.
const Version = 3

// TransactionalID is the standard name that makes a producer transactional:
// its library's transactional init runs before started.
const TransactionalID = "transactional.id"

// Configure is the first command.
type Configure struct {
	Protocol  int    `json:"protocol"`
	Bootstrap string `json:"bootstrap"`
	Topic     string `json:"topic"`
	Producer  int    `json:"producer"`
	// Config is the producer configuration, every value a string: Kafka's
	// standard producer names, which the driver maps, or the library's own
	// option names (its Native list), passed as they are. Anything not in
	// it is left to the library's default.
	Config map[string]string `json:"config"`
	// Tuning is eoscheck's own settings (short timeouts, a small linger),
	// never a name that is also in Config; see WithTuning.
	Tuning map[string]string `json:"tuning"`
}

// WithTuning is Config plus each Tuning entry that check (the driver's own
// mapping, returning a Rejected error for a setting the library cannot
// express) takes on its own; the others are skipped, with a line on stderr.
func (c *Configure) WithTuning(check func(map[string]string) error) map[string]string {
	merged := make(map[string]string, len(c.Config)+len(c.Tuning))
	for name, v := range c.Config {
		merged[name] = v
	}
	for _, name := range Names(c.Tuning) {
		one := map[string]string{name: c.Tuning[name]}
		if err := check(one); err != nil {
			Logf("eoscheck's %s=%s not applied: %v", name, c.Tuning[name], err)
			continue
		}
		merged[name] = c.Tuning[name]
	}
	return merged
}

// Brokers splits the bootstrap list.
func (c *Configure) Brokers() []string { return strings.Split(c.Bootstrap, ",") }

// Record is one send.
type Record struct {
	Partition *int32 // nil: the library's default partitioner picks
	Key       []byte // nil: no key (null)
	Value     []byte
}

type command struct {
	Type string `json:"type"`
	Configure
	ID        int64   `json:"id"`
	Partition *int32  `json:"partition"`
	Key       *string `json:"key"`
	Value     string  `json:"value"`
	TimeoutMs *int64  `json:"timeout_ms"`
}

func (c *command) record() Record {
	r := Record{Partition: c.Partition, Value: []byte(c.Value)}
	if c.Key != nil {
		r.Key = append([]byte{}, *c.Key...) // an empty key is not a null key
	}
	return r
}

// Producer is one library producer, as built by a driver.
type Producer interface {
	// Send hands one record to the library; its outcome is reported later
	// through Out.OK or Out.Fail. It may block (library back-pressure).
	Send(id int64, r Record)
	// Txn makes the library's call for a transaction command, "begin",
	// "commit" or "abort", on the same goroutine as Send, after every send
	// that came before it, and says how it ended. deadline is the command's
	// timeout_ms, for a library call that takes one (a flush); the driver
	// answers at the deadline itself if Txn has not returned.
	Txn(call string, deadline time.Time) Answer
	// Close releases the library's producer. Outcomes it reports after the
	// close began are dropped.
	Close()
}

// The results of a transaction call (PROTOCOL.md, Transactions).
const (
	Ok        = "ok"
	Abortable = "abortable" // the transaction did not and will not commit
	Retriable = "retriable" // outcome unknown; the same call may be made again
	Fatal     = "fatal"     // the producer can do nothing more; outcome unknown
	Fenced    = "fenced"    // another instance took the transactional.id
)

// Answer is how a transaction call ended: a result, and for anything but
// Ok the library's error as NAME: text.
type Answer struct {
	Result string
	Error  string
}

// Done is the answer of a call that did what it was asked.
func Done() Answer { return Answer{Result: Ok} }

// Failed is the answer result with the error name: text.
func Failed(result, name, text string) Answer {
	return Answer{Result: result, Error: name + ": " + text}
}

// Started is what the started event says about the producer.
type Started struct {
	Version string // the library version actually linked
	// Config is the effective configuration; Source is "library" when the
	// values are read back from the library's own configuration, "driver"
	// when they are what the driver set.
	Config map[string]string
	Source string
}

// Start builds the producer, or returns a Rejected error (config-rejected)
// or any other error (fatal).
type Start func(c *Configure, out *Out) (Producer, Started, error)

// Driver is one library's driver.
type Driver struct {
	Library string
	Start   Start
	// Native is every option name the driver passes to the library as it
	// is: the contents of drivers/go/<library>.native, which `-native`
	// prints.
	Native []string
}

// Rejected is a refusal of the settings, by the library or by the driver.
type Rejected struct{ Reason string }

func (r *Rejected) Error() string { return r.Reason }

// Reject wraps a library's validation error (or a driver's reason) as Rejected.
func Reject(format string, args ...any) error {
	return &Rejected{Reason: fmt.Sprintf(format, args...)}
}

// RejectSetting refuses one setting; the reason starts with its name in
// backquotes.
func RejectSetting(name, format string, args ...any) error {
	return Reject("`%s`: %s", name, fmt.Sprintf(format, args...))
}

// Millis parses a duration in milliseconds, the unit of every duration in
// Config.
func Millis(s string) (time.Duration, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt64/int64(time.Millisecond) || n < math.MinInt64/int64(time.Millisecond) {
		return 0, fmt.Errorf("%q is not a duration in milliseconds", s)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// Names are m's keys in order.
func Names[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// closeBound is how long the library's own Close may take once the close
// deadline has passed or every send is done.
const closeBound = 3 * time.Second

// Run speaks the protocol on stdin/stdout until close or end of input, then
// exits the process. With the argument -native it prints d.Native instead.
func Run(d Driver) {
	if len(os.Args) == 2 && os.Args[1] == "-native" {
		fmt.Println(strings.Join(d.Native, "\n"))
		os.Exit(0)
	}
	out := newOut(os.Stdout)
	in := bufio.NewReaderSize(os.Stdin, 1<<20)

	cmd, err := readCommand(in)
	if err == io.EOF {
		out.fatalExit("end of input before configure")
	}
	if err != nil {
		out.fatalExit(err.Error())
	}
	if cmd.Type != "configure" {
		out.fatalExit(fmt.Sprintf("first command is %q, not configure", cmd.Type))
	}
	if cmd.Protocol != 2 && cmd.Protocol != Version {
		out.fatalExit(fmt.Sprintf("configure asks for protocol %d; this driver speaks protocols 2 and %d", cmd.Protocol, Version))
	}
	Logf("configure: bootstrap=%s topic=%s producer=%d config=%v", cmd.Bootstrap, cmd.Topic, cmd.Producer, cmd.Config)
	p, started, err := d.Start(&cmd.Configure, out)
	var rej *Rejected
	switch {
	case errors.As(err, &rej):
		Logf("config-rejected: %s", rej.Reason)
		out.write(`{"type":"config-rejected","reason":` + jsonString(rej.Reason) + `}`)
		out.shutdown()
		os.Exit(0)
	case err != nil:
		out.fatalExit("cannot start producer: " + err.Error())
	}
	out.producer = p
	out.start(StartedLine(d.Library, started))

	q := newSendQueue(p)
	var running *txnCall // a call answered at its timeout that has not been repeated yet
	for {
		cmd, err := readCommand(in)
		if err == io.EOF {
			Logf("end of input: closing as with close timeout_ms 10000")
			closeAndExit(out, q, 10*time.Second)
		}
		if err != nil {
			out.fatalExit(err.Error())
		}
		switch cmd.Type {
		case "send":
			if !out.track(cmd.ID) {
				out.fatalExit(fmt.Sprintf("send id %d is already in use", cmd.ID))
			}
			q.push(sendCmd{id: cmd.ID, record: cmd.record()})
		case "begin", "commit", "abort":
			timeout := int64(10000)
			if cmd.TimeoutMs != nil {
				timeout = *cmd.TimeoutMs
			}
			running = txn(out, q, running, cmd.Type, time.Duration(timeout)*time.Millisecond)
		case "close":
			timeout := int64(10000)
			if cmd.TimeoutMs != nil {
				timeout = *cmd.TimeoutMs
			}
			closeAndExit(out, q, time.Duration(timeout)*time.Millisecond)
		case "configure":
			out.fatalExit("configure sent twice")
		default:
			out.fatalExit(fmt.Sprintf("unknown command type %q", cmd.Type))
		}
	}
}

// txnCall is one library call for a transaction command.
type txnCall struct {
	call     string
	deadline time.Time
	answer   Answer        // set before done is closed
	done     chan struct{} // closed when the library call returned
}

func (c *txnCall) returned() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// txn answers one transaction command within timeout: the library's call
// runs on the send goroutine, behind every send read before it. A call still
// running at the timeout is answered retriable and returned, and the same
// command repeated waits for that call instead of making a new one (unless it
// ended in the library's own retriable answer: then it is made again).
func txn(out *Out, q *sendQueue, running *txnCall, call string, timeout time.Duration) *txnCall {
	c := running
	if c == nil || c.call != call || (c.returned() && c.answer.Result == Retriable) {
		if running != nil && running.call != call {
			Logf("%s answered retriable is not repeated; %s comes instead", running.call, call)
		}
		c = &txnCall{call: call, deadline: time.Now().Add(timeout), done: make(chan struct{})}
		q.push(sendCmd{txn: c})
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		out.Txn(call, Failed(Retriable, "eoscheck", fmt.Sprintf("%s did not return within %d ms", call, timeout.Milliseconds())))
		return c
	}
	if call != "begin" {
		// The library's last outcomes may still be on their way to Out.
		out.awaitNoneOpen(time.Second)
	}
	out.Txn(call, c.answer)
	return nil
}

// StartedLine is the started event of library (a producer's or a processor's).
func StartedLine(library string, s Started) string {
	if s.Config == nil {
		s.Config = map[string]string{}
	}
	b, _ := json.Marshal(struct {
		Type         string            `json:"type"`
		Library      string            `json:"library"`
		Version      string            `json:"version"`
		Config       map[string]string `json:"config"`
		ConfigSource string            `json:"config_source"`
	}{"started", library, s.Version, s.Config, s.Source})
	return string(b)
}

func readCommand(in *bufio.Reader) (*command, error) {
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) == 0 {
			if err != nil {
				return nil, err // io.EOF, or a read error
			}
			continue // tolerate blank lines
		}
		var cmd command
		if jerr := json.Unmarshal(line, &cmd); jerr != nil {
			return nil, fmt.Errorf("protocol error: bad command line %.200q: %v", line, jerr)
		}
		return &cmd, nil
	}
}

// closeAndExit waits up to timeout for every open send, then closes the
// producer (bounded), prints closed and exits 0.
func closeAndExit(out *Out, q *sendQueue, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	q.close()
	select {
	case <-out.allDone():
		Logf("close: every send completed")
	case <-time.After(time.Until(deadline)):
		Logf("close: deadline passed with %d sends open; they get no event", out.openCount())
	}
	out.seal()
	q.drop()
	bound := time.After(closeBound)
	done := make(chan struct{})
	go func() {
		select {
		case <-q.stopped:
			out.producer.Close()
		case <-bound:
			Logf("close: a library send is still blocked; not closing the library")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-bound:
		Logf("close: library close did not finish within %v; exiting anyway", closeBound)
	}
	out.write(`{"type":"closed"}`)
	out.shutdown()
	os.Exit(0)
}

// sendQueue decouples reading stdin from a library Send that may block, so a
// close command is always seen.
type sendQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	items   []sendCmd
	closed  bool          // no more pushes; drain what is queued
	dropped bool          // discard what is queued
	stopped chan struct{} // closed when the sender goroutine has returned
}

type sendCmd struct {
	id     int64
	record Record
	txn    *txnCall // a transaction call instead of a send
}

func newSendQueue(p Producer) *sendQueue {
	q := &sendQueue{stopped: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	go func() {
		defer close(q.stopped)
		var batch []sendCmd
		for {
			q.mu.Lock()
			for len(q.items) == 0 && !q.closed {
				q.cond.Wait()
			}
			if len(q.items) == 0 {
				q.mu.Unlock()
				return
			}
			batch, q.items = q.items, batch[:0]
			q.mu.Unlock()
			for i, s := range batch {
				if q.isDropped() {
					clear(batch[i:])
					return
				}
				if s.txn != nil {
					s.txn.answer = p.Txn(s.txn.call, s.txn.deadline)
					close(s.txn.done)
					continue
				}
				p.Send(s.id, s.record)
			}
			clear(batch)
		}
	}()
	return q
}

func (q *sendQueue) push(s sendCmd) {
	q.mu.Lock()
	q.items = append(q.items, s)
	q.mu.Unlock()
	q.cond.Signal()
}

func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Signal()
}

// drop discards queued sends; the library must not see a Send after Close.
func (q *sendQueue) drop() {
	q.mu.Lock()
	q.dropped, q.items = true, nil
	q.mu.Unlock()
}

func (q *sendQueue) isDropped() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// Out writes events and guarantees at most one completion per send.
type Out struct {
	producer Producer

	mu       sync.Mutex
	open     map[int64]time.Time // send id -> when it was accepted
	sealed   bool                // after the close deadline: completions dropped
	closing  bool
	done     chan struct{} // closed when closing and nothing is open
	sessions map[[2]int64]bool
	started  bool
	early    []string   // session events seen before started
	expiry   []expiring // sends in acceptance order, when ExpireAfter is on
	expireOn bool

	lines   chan []byte
	flushed chan struct{}
}

func newOut(w io.Writer) *Out {
	o := &Out{
		open:     make(map[int64]time.Time),
		done:     make(chan struct{}),
		sessions: make(map[[2]int64]bool),
		lines:    make(chan []byte, 4096),
		flushed:  make(chan struct{}),
	}
	// One writer goroutine: whole lines, flushed after each burst.
	go func() {
		bw := bufio.NewWriterSize(w, 64<<10)
		for line := range o.lines {
			bw.Write(line)
			for more := true; more; {
				select {
				case l, ok := <-o.lines:
					if !ok {
						more = false
						break
					}
					bw.Write(l)
				default:
					more = false
				}
			}
			if err := bw.Flush(); err != nil {
				Logf("stdout: %v", err)
			}
		}
		bw.Flush()
		close(o.flushed)
	}()
	return o
}

func (o *Out) write(line string) { o.lines <- append([]byte(line), '\n') }

func (o *Out) shutdown() {
	close(o.lines)
	<-o.flushed
}

func (o *Out) fatalExit(msg string) {
	Logf("fatal: %s", msg)
	o.write(`{"type":"fatal","error":` + jsonString(msg) + `}`)
	o.shutdown()
	os.Exit(1)
}

func (o *Out) track(id int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.open[id]; dup {
		return false
	}
	now := time.Now()
	o.open[id] = now
	if o.expireOn {
		o.expiry = append(o.expiry, expiring{id, now})
	}
	return true
}

// complete removes id from the open sends and queues its line; nothing is
// written if the send is not open (already completed, unknown) or after the
// close deadline. The line is queued under the lock, so that once a send is
// no longer open its line is ahead of any written later (a txn answer).
func (o *Out) complete(id int64, what string, line []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.open[id]; !ok || o.sealed {
		Logf("dropping late/duplicate %s for send %d", what, id)
		return
	}
	delete(o.open, id)
	o.lines <- line
	if o.closing && len(o.open) == 0 {
		close(o.done)
	}
}

// awaitNoneOpen waits until no send is open, at most bound.
func (o *Out) awaitNoneOpen(bound time.Duration) {
	for end := time.Now().Add(bound); o.openCount() > 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
}

// Txn writes the answer to a transaction command.
func (o *Out) Txn(call string, a Answer) {
	line := `{"type":"txn","call":` + jsonString(call) + `,"result":` + jsonString(a.Result)
	if a.Result != Ok {
		if a.Error == "" {
			a.Error = "eoscheck: the library gave no error"
		}
		line += `,"error":` + jsonString(a.Error)
	}
	Logf("txn: %s %s %s", call, a.Result, a.Error)
	o.write(line + "}")
}

func (o *Out) allDone() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closing {
		o.closing = true
		if len(o.open) == 0 {
			close(o.done)
		}
	}
	return o.done
}

func (o *Out) seal() {
	o.mu.Lock()
	o.sealed = true
	o.mu.Unlock()
}

func (o *Out) openCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.open)
}

// OK reports an acknowledged send; offset -1 when the library cannot know it.
func (o *Out) OK(id int64, partition int32, offset int64) {
	b := make([]byte, 0, 80)
	b = append(b, `{"type":"ok","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, offset, 10)
	b = append(b, "}\n"...)
	o.complete(id, "ok", b)
}

// Fail reports a failed send; name is the library's error name.
func (o *Out) Fail(id int64, name, text string, definite bool) {
	o.complete(id, "fail", []byte(`{"type":"fail","id":`+strconv.FormatInt(id, 10)+
		`,"error":`+jsonString(name+": "+text)+`,"definite":`+strconv.FormatBool(definite)+"}\n"))
}

// start writes the started event, then any session seen while starting.
func (o *Out) start(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.write(line)
	for _, l := range o.early {
		o.write(l)
	}
	o.started, o.early = true, nil
}

// Session reports a producer id and epoch the first time it is seen.
func (o *Out) Session(pid int64, epoch int16) {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := [2]int64{pid, int64(epoch)}
	if o.sessions[key] || o.sealed {
		return
	}
	o.sessions[key] = true
	Logf("session: producer id %d epoch %d", pid, epoch)
	line := fmt.Sprintf(`{"type":"session","pid":%d,"epoch":%d}`, pid, epoch)
	if o.started {
		o.write(line)
	} else {
		o.early = append(o.early, line)
	}
}

type expiring struct {
	id       int64
	accepted time.Time
}

// ExpireAfter makes the driver itself report a send as failed, indeterminate,
// once it has been open for d; for libraries without a delivery timeout.
func (o *Out) ExpireAfter(d time.Duration, name string) {
	o.mu.Lock()
	o.expireOn = true
	o.mu.Unlock()
	text := fmt.Sprintf("no outcome from the library within delivery.timeout.ms %d (enforced by the driver)", d.Milliseconds())
	go func() {
		for range time.Tick(50 * time.Millisecond) {
			var expired []int64
			o.mu.Lock()
			// Sends are accepted in time order, so only the head can be due;
			// completed ones are skipped on the way.
			n := 0
			for ; n < len(o.expiry); n++ {
				e := o.expiry[n]
				if _, open := o.open[e.id]; open {
					if time.Since(e.accepted) < d {
						break
					}
					expired = append(expired, e.id)
				}
			}
			o.expiry = o.expiry[n:]
			o.mu.Unlock()
			for _, id := range expired {
				o.Fail(id, name, text, false)
			}
		}
	}()
}

// Logf logs to stderr, never stdout.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
}

// ModuleVersion is the version of module path linked into this binary,
// without the leading "v".
func ModuleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			if m.Replace != nil {
				m = m.Replace
			}
			return strings.TrimPrefix(m.Version, "v")
		}
	}
	return "unknown"
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
