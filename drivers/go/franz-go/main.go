// Driver for github.com/twmb/franz-go (package kgo); see ../README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"eoscheck/drivers/protocol"
)

const module = "github.com/twmb/franz-go"

// idempotentInflight is what kgo always uses with idempotence (Kafka >= 1.0);
// MaxProduceRequestsInflightPerBroker only applies without it.
const idempotentInflight = 5

type producer struct {
	cl    *kgo.Client
	out   *protocol.Out
	noAck bool
}

func start(c *protocol.Configure, out *protocol.Out) (protocol.Producer, string, error) {
	s := c.Settings
	var acks kgo.Acks
	switch s.Acks {
	case "all", "-1":
		acks = kgo.AllISRAcks()
	case "1":
		acks = kgo.LeaderAck()
	case "0":
		acks = kgo.NoAck()
	default:
		return nil, "", protocol.Reject("acks %q: kgo only has AllISRAcks, LeaderAck and NoAck", s.Acks)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers()...),
		kgo.ClientID(fmt.Sprintf("eoscheck-%d", c.Producer)),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(acks),
		kgo.RecordRetries(int(s.Retries)),
		kgo.ProduceRequestTimeout(s.RequestTimeout()),
		kgo.RecordDeliveryTimeout(s.DeliveryTimeout()),
		kgo.ProducerLinger(s.Linger()),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)),
	}
	switch {
	case !s.Idempotence:
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(s.MaxInFlight))
	case s.MaxInFlight == idempotentInflight:
		protocol.Logf("idempotence: kgo uses %d in-flight produce requests per broker by itself; MaxProduceRequestsInflightPerBroker not passed", idempotentInflight)
	case s.MaxInFlight == 1:
		// kgo would accept 1 (its default value) and still run 5 in flight.
		return nil, "", protocol.Reject("max_in_flight 1 with idempotence: kgo always allows %d in-flight produce requests per broker when idempotent; MaxProduceRequestsInflightPerBroker applies only with DisableIdempotentWrite", idempotentInflight)
	default:
		opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(s.MaxInFlight)) // kgo refuses it
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, "", protocol.Reject("kgo.NewClient: %v", err)
	}
	return &producer{cl: cl, out: out, noAck: s.Acks == "0"}, protocol.ModuleVersion(module), nil
}

func (p *producer) Send(id int64, partition int32, value []byte) {
	r := &kgo.Record{Partition: partition, Value: value}
	p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err != nil {
			name, definite := classify(err)
			p.out.Fail(id, name, err.Error(), definite)
			return
		}
		if r.ProducerID >= 0 {
			p.out.Session(r.ProducerID, r.ProducerEpoch)
		}
		offset := r.Offset
		if p.noAck {
			offset = -1 // no response, kgo cannot know it
		}
		p.out.OK(id, r.Partition, offset)
	})
}

func (p *producer) Close() { p.cl.Close() }

var sentinels = []struct {
	err      error
	name     string
	definite bool // kgo never let the record leave the process
}{
	{kgo.ErrRecordTimeout, "ErrRecordTimeout", false},
	{kgo.ErrRecordRetries, "ErrRecordRetries", false},
	{kgo.ErrClientClosed, "ErrClientClosed", false},
	{kgo.ErrAborting, "ErrAborting", false},
	{kgo.ErrMaxBuffered, "ErrMaxBuffered", true},
}

// classify names err and says whether it is definite. Broker errors are not:
// an earlier attempt of the same batch may have been written.
func classify(err error) (string, bool) {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message, false
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.name, s.definite
		}
	}
	return "kgo", false // an unnamed error, e.g. "no partitions available"
}

func main() { protocol.Run("franz-go", start) }
