// Driver for github.com/twmb/franz-go (package kgo); see ../README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"eoscheck/drivers/pipeline"
	"eoscheck/drivers/protocol"
)

const module = "github.com/twmb/franz-go"

type producer struct {
	cl    *kgo.Client
	out   *protocol.Out
	noAck bool
	// inTxn: a begin succeeded and no end did since. kgo's EndTransaction
	// outside a transaction ends nothing and returns nil.
	inTxn bool
}

// initBound bounds the transactional init: kgo's InitProducerID has no bound
// of its own but its request retries. kafka-clients' default max.block.ms.
const initBound = 60 * time.Second

func start(c *protocol.Configure, out *protocol.Out) (protocol.Producer, protocol.Started, error) {
	config := c.WithTuning(func(m map[string]string) error {
		_, err := options(m)
		return err
	})
	opts, err := options(config)
	if err != nil {
		return nil, protocol.Started{}, err
	}
	_, transactional := config[protocol.TransactionalID]
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
	if transactional {
		id, epoch, err := initTransactions(cl)
		if err != nil {
			cl.Close()
			return nil, protocol.Started{}, err
		}
		out.Session(id, epoch)
	}
	p := &producer{cl: cl, out: out, noAck: cl.OptValue(kgo.RequiredAcks) == kgo.NoAck()}
	return p, protocol.Started{Version: protocol.ModuleVersion(module), Config: effective(cl), Source: "library"}, nil
}

// initTransactions loads the producer id now (kgo loads it lazily): the
// InitProducerID that fences any older instance.
func initTransactions(cl *kgo.Client) (int64, int16, error) {
	ctx, cancel := context.WithTimeout(context.Background(), initBound)
	defer cancel()
	id, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		name, _ := classify(err)
		return 0, 0, fmt.Errorf("initialising transactions: %s: %v", name, err)
	}
	return id, epoch, nil
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

// Txn: BeginTransaction; Flush then EndTransaction(TryCommit); AbortBufferedRecords
// then EndTransaction(TryAbort). The flushes are bounded by the deadline; an
// EndTransaction is not, as canceling it leaves its outcome unknowable.
func (p *producer) Txn(call string, deadline time.Time) protocol.Answer {
	if call == "begin" {
		if err := p.cl.BeginTransaction(); err != nil {
			return failed(fatalOrFenced(err), err) // not transactional, already in one, or a fatal producer id
		}
		p.inTxn = true
		return protocol.Done()
	}
	if !p.inTxn {
		return protocol.Failed(protocol.Fatal, "eoscheck", "no transaction is open (kgo's EndTransaction would end nothing and return nil)")
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if call == "commit" {
		if err := p.cl.Flush(ctx); err != nil {
			// Records still buffered, nothing ended: the same commit may come again.
			return failed(protocol.Retriable, err)
		}
		err := p.cl.EndTransaction(context.Background(), kgo.TryCommit)
		switch {
		case err == nil:
			p.inTxn = false
			return protocol.Done()
		case errors.Is(err, kerr.OperationNotAttempted) || isCode(err, transactionAbortable):
			// The producer id had failed, so no EndTxn was sent, or the
			// coordinator itself refused the commit: abort.
			return failed(protocol.Abortable, err)
		default:
			// Fenced, another broker error, or unconfirmed (a transport
			// error, UNKNOWN_SERVER_ERROR): the commit may have happened, and
			// kgo refuses to try it again ("retry with TryAbort").
			return failed(fatalOrFenced(err), err)
		}
	}
	if err := p.cl.AbortBufferedRecords(ctx); err != nil {
		return failed(protocol.Retriable, err)
	}
	err := p.cl.EndTransaction(context.Background(), kgo.TryAbort)
	var ke *kerr.Error
	switch {
	case err == nil:
		p.inTxn = false
		return protocol.Done()
	case isFencing(err) || (errors.As(err, &ke) && !ke.Retriable && ke.Code != transactionAbortable && ke.Code != kerr.UnknownServerError.Code):
		return failed(fatalOrFenced(err), err)
	default:
		// Unconfirmed, or TRANSACTION_ABORTABLE: kgo documents retrying TryAbort.
		return failed(protocol.Retriable, err)
	}
}

// transactionAbortable is TRANSACTION_ABORTABLE's code; kerr names it only
// from franz-go 1.18 on.
const transactionAbortable = 120

func isCode(err error, code int16) bool {
	var ke *kerr.Error
	return errors.As(err, &ke) && ke.Code == code
}

// isFencing: another instance took the transactional.id (or, before KIP-890
// part 2, the coordinator bumped the epoch when it timed the transaction out).
func isFencing(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

func fatalOrFenced(err error) string {
	if isFencing(err) {
		return protocol.Fenced
	}
	return protocol.Fatal
}

func failed(result string, err error) protocol.Answer {
	name, _ := classify(err)
	return protocol.Failed(result, name, err.Error())
}

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
	if pipeline.Selected() {
		pipeline.Serve("franz-go", startProcessor)
	}
	protocol.Run(protocol.Driver{Library: "franz-go", Start: start, Native: protocol.Names(native)})
}
