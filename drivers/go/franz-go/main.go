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

type producer struct {
	cl    *kgo.Client
	out   *protocol.Out
	noAck bool
}

func start(c *protocol.Configure, out *protocol.Out) (protocol.Producer, protocol.Started, error) {
	opts, err := options(c.WithTuning(func(m map[string]string) error {
		_, err := options(m)
		return err
	}))
	if err != nil {
		return nil, protocol.Started{}, err
	}
	// What connecting and the workload need; a client.id or ClientID in the
	// configuration comes later and replaces the driver's.
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(c.Brokers()...),
		kgo.ClientID(fmt.Sprintf("eoscheck-%d", c.Producer)),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)),
	}, opts...)
	dflt, err := defaultPartitioner(opts)
	if err != nil {
		return nil, protocol.Started{}, protocol.Reject("kgo.NewClient: %v", err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(explicitFirst{dflt}))...)
	if err != nil {
		return nil, protocol.Started{}, protocol.Reject("kgo.NewClient: %v", err)
	}
	p := &producer{cl: cl, out: out, noAck: cl.OptValue(kgo.RequiredAcks) == kgo.NoAck()}
	return p, protocol.Started{Version: protocol.ModuleVersion(module), Config: effective(cl), Source: "library"}, nil
}

func (p *producer) Send(id int64, r protocol.Record) {
	rec := &kgo.Record{Key: r.Key, Value: r.Value}
	if r.Partition != nil {
		rec.Partition, rec.Context = *r.Partition, explicitCtx
	}
	p.cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
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

func main() {
	protocol.Run(protocol.Driver{Library: "franz-go", Start: start, Native: protocol.Names(native)})
}
