// The franz-go processor (drivers/PROTOCOL.md, Processors; ../README.md): one
// kgo client consumes the input in the group and produces the output. Exactly
// once it is a GroupTransactSession, franz-go's documented EOS helper and its
// only API that commits a group's offsets inside a transaction.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"eoscheck/drivers/pipeline"
	"eoscheck/drivers/protocol"
)

// commitBound bounds an at-least-once offset commit.
const commitBound = 10 * time.Second

type processor struct {
	cl   *kgo.Client
	sess *kgo.GroupTransactSession // exactly once; nil at least once
	c    *pipeline.Configure
	loop *pipeline.Loop
}

func startProcessor(c *pipeline.Configure, loop *pipeline.Loop) (pipeline.Processor, protocol.Started, error) {
	config := c.Producer().WithTuning(func(m map[string]string) error {
		_, err := options(m)
		return err
	})
	producer, err := options(config)
	if err != nil {
		return nil, protocol.Started{}, err
	}
	p := &processor{c: c, loop: loop}
	consumer, err := p.consumerOptions()
	if err != nil {
		return nil, protocol.Started{}, err
	}
	// The client id first, so that a client.id in the configuration replaces it.
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.Brokers()...),
		kgo.ClientID(fmt.Sprintf("eoscheck-proc-%d", c.Slot)),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)),
	}, append(producer, consumer...)...)
	if err := p.newClient(opts); err != nil {
		return nil, protocol.Started{}, protocol.Reject("kgo.NewClient: %v", err)
	}
	if c.ExactlyOnce() {
		id, epoch, err := initTransactions(p.cl)
		if err != nil {
			p.cl.Close()
			return nil, protocol.Started{}, err
		}
		loop.Session(id, epoch)
	}
	return p, protocol.Started{Version: protocol.ModuleVersion(module), Config: effective(p.cl), Source: "library"}, nil
}

// newClient: exactly once a GroupTransactSession (its End aborts a
// transaction the group rebalanced under, and rewinds), at least once a plain
// client that commits only when told to.
func (p *processor) newClient(opts []kgo.Opt) error {
	if !p.c.ExactlyOnce() {
		cl, err := kgo.NewClient(append(opts, kgo.DisableAutoCommit())...)
		p.cl = cl
		return err
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return err
	}
	p.sess, p.cl = sess, sess.Client()
	return nil
}

// consumerOptions are the consumer settings (standard names mapped) and the
// processor's own: the group and input, read_committed, the earliest offset
// where the group has none, the callbacks, and the output partition taken
// from the input record. At least once, rebalances are held off while a
// batch is processed (BlockRebalanceOnPoll: the callbacks run between
// batches, as kafka-clients' run inside poll), so that what is pending is
// committed before a revoke. Not exactly once: a GroupTransactSession
// handles a rebalance during a transaction by aborting it, and its End waits
// for the lost callback, which BlockRebalanceOnPoll would hold until after
// End (a member dropped by the group mid-transaction hung there for good).
func (p *processor) consumerOptions() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	duration := func(opt func(time.Duration) kgo.GroupOpt) func(time.Duration) {
		return func(d time.Duration) { opts = append(opts, opt(d)) }
	}
	err := p.c.ConsumerDurations("franz-go", map[string]func(time.Duration){
		"session.timeout.ms":    duration(kgo.SessionTimeout),
		"heartbeat.interval.ms": duration(kgo.HeartbeatInterval),
		"max.poll.interval.ms":  duration(kgo.RebalanceTimeout),
	})
	if !p.c.ExactlyOnce() {
		opts = append(opts, kgo.BlockRebalanceOnPoll())
	}
	return append(opts,
		kgo.ConsumerGroup(p.c.Group),
		kgo.ConsumeTopics(p.c.Input),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(p.input(p.loop.Assigned)),
		kgo.OnPartitionsRevoked(p.input(p.loop.Revoked)),
		kgo.OnPartitionsLost(p.input(p.loop.Lost)),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	), err
}

// input adapts a rebalance report to kgo's callback: the input topic's
// partitions.
func (p *processor) input(report func([]int32)) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(_ context.Context, _ *kgo.Client, partitions map[string][]int32) {
		if len(partitions[p.c.Input]) > 0 {
			report(partitions[p.c.Input])
		}
	}
}

func (p *processor) Poll(wait time.Duration) ([]pipeline.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	fetches := p.cl.PollRecords(ctx, pipeline.MaxBatch)
	if fetches.IsClientClosed() {
		return nil, kgo.ErrClientClosed
	}
	fetches.EachError(func(topic string, partition int32, err error) {
		if ctx.Err() == nil { // not the end of the wait
			protocol.Logf("poll: %s[%d]: %v", topic, partition, err)
		}
	})
	var batch []pipeline.Record
	fetches.EachRecord(func(r *kgo.Record) {
		batch = append(batch, pipeline.Record{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value})
	})
	return batch, nil
}

// Polled: AllowRebalance, which ends BlockRebalanceOnPoll's hold (at least
// once; nothing is held exactly once).
func (p *processor) Polled() { p.cl.AllowRebalance() }

// Transaction: Begin, the outputs (flushed, to see a failed send before the
// end), End(TryCommit), or End(TryAbort) after a failed send. End commits the
// offsets it polled (TxnOffsetCommit under the group's generation), and
// aborts instead when the group rebalanced since Begin or refused them; then
// it rewinds the client to the committed offsets itself.
func (p *processor) Transaction(n int64, batch []pipeline.Record, _ pipeline.Offsets) pipeline.Ending {
	if err := p.sess.Begin(); err != nil {
		return failedTxn(err) // a failed producer id: fenced or fatal
	}
	try, sendErr := kgo.TryCommit, p.Produce(n, batch)
	if sendErr != nil {
		try = kgo.TryAbort
	}
	committed, err := p.sess.End(context.Background(), try)
	switch {
	case err != nil:
		// kgo: no End error is retriable; the transactional id failed or the
		// retries ran out, and a commit's outcome is not known.
		return failedTxn(err)
	case committed:
		return pipeline.Ending{Result: pipeline.Committed}
	case sendErr != nil:
		name, _ := classify(sendErr)
		return pipeline.Failed(pipeline.Aborted, name, sendErr)
	}
	return pipeline.Ending{Result: pipeline.Aborted,
		Error: "GroupTransactSession: End aborted (the group rebalanced during the transaction, or refused its offsets)"}
}

func failedTxn(err error) pipeline.Ending {
	name, _ := classify(err)
	if isFencing(err) {
		return pipeline.Failed(pipeline.Fenced, name, err)
	}
	return pipeline.Failed(pipeline.Fatal, name, err)
}

// Produce hands every output to kgo and flushes; the first failed send.
func (p *processor) Produce(n int64, batch []pipeline.Record) error {
	var mu sync.Mutex
	var first error
	for _, r := range batch {
		out := &kgo.Record{Topic: p.c.Output, Partition: r.Partition, Key: r.Key, Value: pipeline.OutputValue(r, p.c.Slot, n)}
		p.cl.Produce(context.Background(), out, func(out *kgo.Record, err error) {
			if err == nil && out.ProducerID >= 0 {
				p.loop.Session(out.ProducerID, out.ProducerEpoch)
			}
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if first == nil {
				first = err
			}
		})
	}
	if err := p.cl.Flush(context.Background()); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return first
}

// Commit is CommitOffsetsSync (kgo's commit for OnPartitionsRevoked too) with
// the response's first error.
func (p *processor) Commit(offsets pipeline.Offsets) error {
	ctx, cancel := context.WithTimeout(context.Background(), commitBound)
	defer cancel()
	at := map[int32]kgo.EpochOffset{}
	for partition, o := range offsets {
		at[partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var failed error
	p.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{p.c.Input: at},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				failed = err
				return
			}
			for _, t := range resp.Topics {
				for _, part := range t.Partitions {
					if err := kerr.ErrorForCode(part.ErrorCode); err != nil && failed == nil {
						failed = fmt.Errorf("partition %d: %w", part.Partition, err)
					}
				}
			}
		})
	return failed
}

// Rewind: each partition back to the client's committed offset, or where
// consuming began when the group has none. A GroupTransactSession's End has
// moved the client there already; at least once the processor sets them.
func (p *processor) Rewind(from pipeline.Offsets) pipeline.Offsets {
	committed := p.cl.CommittedOffsets()[p.c.Input]
	to := pipeline.Offsets{}
	set := map[int32]kgo.EpochOffset{}
	for partition, o := range from {
		if c, ok := committed[partition]; ok {
			o = c.Offset
		}
		to[partition], set[partition] = o, kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	if p.sess == nil {
		p.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{p.c.Input: set})
	}
	return to
}

// Close leaves the group (its revoke callback reports the last revoked) and
// closes the client.
func (p *processor) Close() { p.cl.Close() }
