// Driver for github.com/IBM/sarama (AsyncProducer); see ../README.md.
package main

import (
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"eoscheck/drivers/pipeline"
	"eoscheck/drivers/protocol"
)

const module = "github.com/IBM/sarama"

type producer struct {
	ap      sarama.AsyncProducer
	topic   string
	drained sync.WaitGroup // the Successes and Errors readers
}

func start(c *protocol.Configure, out *protocol.Out) (protocol.Producer, protocol.Started, error) {
	sarama.Logger = &sessionLog{report: out.Session}
	cfg, deliveryTimeout, err := producerConfig(c, fmt.Sprintf("eoscheck-%d", c.Producer))
	if err != nil {
		return nil, protocol.Started{}, err
	}
	ap, err := newProducer(c, cfg)
	if err != nil {
		return nil, protocol.Started{}, err
	}
	if deliveryTimeout > 0 {
		protocol.Logf("delivery.timeout.ms: sarama has no delivery timeout; the driver reports sends open longer than %v as indeterminate", deliveryTimeout)
		out.ExpireAfter(deliveryTimeout, "DeliveryTimeout")
	}

	p := &producer{ap: ap, topic: c.Topic}
	noAck := cfg.Producer.RequiredAcks == sarama.NoResponse
	p.drained.Add(2)
	go func() {
		defer p.drained.Done()
		for m := range ap.Successes() {
			offset := m.Offset
			if noAck {
				offset = -1 // no response, sarama cannot know it
			}
			out.OK(m.Metadata.(send).id, m.Partition, offset)
		}
	}()
	go func() {
		defer p.drained.Done()
		for e := range ap.Errors() {
			name, definite := classify(e.Err)
			out.Fail(e.Msg.Metadata.(send).id, name, e.Err.Error(), definite)
		}
	}()
	return p, protocol.Started{Version: protocol.ModuleVersion(module), Config: effective(cfg), Source: "library"}, nil
}

// producerConfig is c's producer configuration and delivery.timeout.ms.
// What connecting and the workload need is set before the configuration, so
// that it can replace them: a client id; request versions that Kafka 3.6+
// and 4.x brokers serve (3.6 is the newest every sarama since 1.42 knows;
// idempotence needs 0.11); an outcome for every send; explicit partitions
// honoured.
func producerConfig(c *protocol.Configure, clientID string) (*sarama.Config, time.Duration, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = clientID
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = explicitFirst(cfg.Producer.Partitioner)
	deliveryTimeout, err := configure(cfg, c.WithTuning(func(m map[string]string) error {
		_, err := configure(sarama.NewConfig(), m)
		return err
	}))
	if err != nil {
		return nil, 0, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, 0, protocol.Reject("sarama Config.Validate: %v", err)
	}
	return cfg, deliveryTimeout, nil
}

// newProducer builds the producer; a transactional one has run its
// InitProducerId when it returns.
func newProducer(c *protocol.Configure, cfg *sarama.Config) (sarama.AsyncProducer, error) {
	ap, err := sarama.NewAsyncProducer(c.Brokers(), cfg)
	var cerr sarama.ConfigurationError
	if errors.As(err, &cerr) {
		return nil, protocol.Reject("sarama.NewAsyncProducer: %v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("sarama.NewAsyncProducer: %w", err)
	}
	return ap, nil
}

// send is a message's Metadata.
type send struct {
	id       int64
	explicit bool // the send named its partition
}

func (p *producer) Send(id int64, r protocol.Record) {
	m := &sarama.ProducerMessage{
		Topic:    p.topic,
		Value:    sarama.ByteEncoder(r.Value),
		Metadata: send{id: id, explicit: r.Partition != nil},
	}
	if r.Key != nil {
		m.Key = sarama.ByteEncoder(r.Key) // a nil Key is no key
	}
	if r.Partition != nil {
		m.Partition = *r.Partition
	}
	p.ap.Input() <- m
}

// Txn: BeginTxn, CommitTxn, AbortTxn. sarama's commit and abort flush first
// (they wait for every message in flight), and its EndTxn is retried
// Producer.Transaction.Retry.Max times; neither takes a deadline.
func (p *producer) Txn(call string, _ time.Time) protocol.Answer {
	var err error
	switch call {
	case "begin":
		err = p.ap.BeginTxn()
	case "commit":
		err = p.ap.CommitTxn()
	default:
		err = p.ap.AbortTxn()
	}
	if err == nil {
		return protocol.Done()
	}
	return txnAnswer(p.ap, call, err)
}

// txnAnswer says what a failed transaction call ("begin", "commit", "abort")
// left, from the producer's transaction status.
func txnAnswer(ap sarama.AsyncProducer, call string, err error) protocol.Answer {
	name, _ := classify(err)
	status := ap.TxnStatus()
	result := protocol.Fatal // a call the state does not allow, a non-transactional producer
	switch {
	case status&sarama.ProducerTxnFlagFatalError != 0:
		if errors.Is(err, sarama.ErrProducerFenced) || errors.Is(err, sarama.ErrInvalidProducerEpoch) {
			result = protocol.Fenced
		}
	case status&sarama.ProducerTxnFlagAbortableError != 0:
		// A commit in this state returns the stored error without an EndTxn;
		// an EndTxn answered UNKNOWN_PRODUCER_ID lands here too.
		result = protocol.Abortable
	case call == "commit" && status&sarama.ProducerTxnFlagCommittingTransaction != 0,
		call == "abort" && status&sarama.ProducerTxnFlagAbortingTransaction != 0:
		// EndTxn's retries ran out (network errors, a coordinator moving):
		// still committing, and a repeated CommitTxn sends EndTxn again.
		result = protocol.Retriable
	}
	protocol.Logf("%s: %v with transaction status %s", call, err, status)
	return protocol.Failed(result, name, err.Error())
}

func (p *producer) Close() {
	p.ap.AsyncClose()
	p.drained.Wait()
}

var sentinels = []struct {
	err  error
	name string
}{
	{sarama.ErrOutOfBrokers, "ErrOutOfBrokers"},
	{sarama.ErrNotConnected, "ErrNotConnected"},
	{sarama.ErrShuttingDown, "ErrShuttingDown"}, // also for retried messages
	{sarama.ErrClosedClient, "ErrClosedClient"},
	{sarama.ErrBrokerNotFound, "ErrBrokerNotFound"},
	{sarama.ErrIncompleteResponse, "ErrIncompleteResponse"},
	{sarama.ErrNonTransactedProducer, "ErrNonTransactedProducer"},
	{sarama.ErrTransitionNotAllowed, "ErrTransitionNotAllowed"},
	{sarama.ErrTransactionNotReady, "ErrTransactionNotReady"},
}

// classify names err and says whether it is definite. Only the checks the
// dispatcher makes before a message leaves the process are (they return
// ConfigurationError); broker errors are not, as an earlier attempt may
// have been written.
func classify(err error) (string, bool) {
	var ke sarama.KError
	if errors.As(err, &ke) {
		return "KError(" + strconv.Itoa(int(ke)) + ")", false
	}
	var ce sarama.ConfigurationError
	if errors.As(err, &ce) {
		return "ConfigurationError", true
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.name, false
		}
	}
	return "sarama", false // an unnamed (e.g. network) error
}

// sessionLog routes sarama's log to stderr and follows the producer id and
// epoch in it, for report: sarama keeps them private but logs when it
// obtains an id and when it bumps the epoch of an idempotent producer.
type sessionLog struct {
	report func(pid int64, epoch int16)
	mu     sync.Mutex
	pid    int64
	epoch  int16
	known  bool
}

var (
	stderr   = log.New(os.Stderr, "[sarama] ", log.Ltime|log.Lmicroseconds)
	obtained = regexp.MustCompile(`obtained a ProducerId: (-?\d+) and ProducerEpoch: (-?\d+)`)
	rolling  = regexp.MustCompile(`rolling over epoch due to publish failure`)
)

func (l *sessionLog) Print(v ...any)                 { l.line(fmt.Sprint(v...)) }
func (l *sessionLog) Printf(format string, v ...any) { l.line(fmt.Sprintf(format, v...)) }
func (l *sessionLog) Println(v ...any)               { l.line(fmt.Sprintln(v...)) }

func (l *sessionLog) line(s string) {
	stderr.Output(3, s)
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := obtained.FindStringSubmatch(s); m != nil {
		pid, _ := strconv.ParseInt(m[1], 10, 64)
		epoch, _ := strconv.ParseInt(m[2], 10, 16)
		l.pid, l.epoch, l.known = pid, int16(epoch), true
	} else if rolling.MatchString(s) && l.known && l.epoch < math.MaxInt16 {
		l.epoch++ // bumpIdempotentProducerEpoch; at MaxInt16 a new id is logged
	} else {
		return
	}
	l.report(l.pid, l.epoch)
}

func main() {
	if pipeline.Selected() {
		pipeline.Serve("sarama", startProcessor)
	}
	protocol.Run(protocol.Driver{Library: "sarama", Start: start, Native: protocol.Names(fields)})
}
