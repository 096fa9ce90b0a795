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

	"github.com/IBM/sarama"

	"eoscheck/drivers/protocol"
)

const module = "github.com/IBM/sarama"

type producer struct {
	ap      sarama.AsyncProducer
	topic   string
	noAck   bool
	drained sync.WaitGroup // the Successes and Errors readers
}

func start(c *protocol.Configure, out *protocol.Out) (protocol.Producer, string, error) {
	s := c.Settings
	cfg := sarama.NewConfig()
	cfg.ClientID = fmt.Sprintf("eoscheck-%d", c.Producer)
	// Kafka 4 dropped the oldest request versions; 3.6 is in every sarama
	// since 1.42 and is served by 3.x and 4.x brokers.
	cfg.Version = sarama.V3_6_0_0
	switch s.Acks {
	case "all", "-1":
		cfg.Producer.RequiredAcks = sarama.WaitForAll
	case "1":
		cfg.Producer.RequiredAcks = sarama.WaitForLocal
	case "0":
		cfg.Producer.RequiredAcks = sarama.NoResponse
	default:
		return nil, "", protocol.Reject("acks %q: sarama only has WaitForAll, WaitForLocal and NoResponse", s.Acks)
	}
	cfg.Producer.Idempotent = s.Idempotence
	cfg.Producer.Retry.Max = int(min(s.Retries, math.MaxInt32))
	if s.Retries >= math.MaxInt32 {
		// "As often as allowed": sarama allocates Retry.Max+1 slots per
		// partition (MaxInt32 runs out of memory), and backs off at least
		// Retry.Backoff between tries, so this many cover the delivery timeout.
		cfg.Producer.Retry.Max = int(s.DeliveryTimeout()/cfg.Producer.Retry.Backoff) + 1
		protocol.Logf("retries %d: Retry.Max set to %d (delivery_timeout_ms / Retry.Backoff %v, plus 1)", s.Retries, cfg.Producer.Retry.Max, cfg.Producer.Retry.Backoff)
	}
	cfg.Net.MaxOpenRequests = s.MaxInFlight // per broker connection, as in Java
	// Producer.Timeout is the broker-side wait for acks; Net.ReadTimeout is
	// how long the client waits for any response.
	cfg.Producer.Timeout = s.RequestTimeout()
	cfg.Net.ReadTimeout = s.RequestTimeout()
	cfg.Producer.Flush.Frequency = s.Linger()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true

	sarama.Logger = &sessionLog{out: out}
	if err := cfg.Validate(); err != nil {
		return nil, "", protocol.Reject("sarama Config.Validate: %v", err)
	}
	ap, err := sarama.NewAsyncProducer(c.Brokers(), cfg)
	var cerr sarama.ConfigurationError
	if errors.As(err, &cerr) {
		return nil, "", protocol.Reject("sarama.NewAsyncProducer: %v", err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("sarama.NewAsyncProducer: %w", err)
	}
	// sarama has no delivery timeout: it retries up to Retry.Max times.
	protocol.Logf("delivery_timeout_ms: sarama has no delivery timeout; the driver reports sends open longer than %v as indeterminate", s.DeliveryTimeout())
	out.ExpireAfter(s.DeliveryTimeout(), "DeliveryTimeout")

	p := &producer{ap: ap, topic: c.Topic, noAck: s.Acks == "0"}
	p.drained.Add(2)
	go func() {
		defer p.drained.Done()
		for m := range ap.Successes() {
			offset := m.Offset
			if p.noAck {
				offset = -1 // no response, sarama cannot know it
			}
			out.OK(m.Metadata.(int64), m.Partition, offset)
		}
	}()
	go func() {
		defer p.drained.Done()
		for e := range ap.Errors() {
			name, definite := classify(e.Err)
			out.Fail(e.Msg.Metadata.(int64), name, e.Err.Error(), definite)
		}
	}()
	return p, protocol.ModuleVersion(module), nil
}

func (p *producer) Send(id int64, partition int32, value []byte) {
	p.ap.Input() <- &sarama.ProducerMessage{
		Topic:     p.topic,
		Partition: partition,
		Value:     sarama.ByteEncoder(value),
		Metadata:  id,
	}
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
// epoch in it: sarama keeps them private but logs when it obtains an id and
// when it bumps the epoch of an idempotent producer.
type sessionLog struct {
	out   *protocol.Out
	mu    sync.Mutex
	pid   int64
	epoch int16
	known bool
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
	l.out.Session(l.pid, l.epoch)
}

func main() { protocol.Run("sarama", start) }
