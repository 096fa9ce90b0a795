// The sarama processor (drivers/PROTOCOL.md, Processors; ../README.md): a
// ConsumerGroup reads the input and an AsyncProducer writes the output,
// transactional when exactly once (the slot's transactional.id), with the
// offsets added to the transaction under the member's generation.
package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"eoscheck/drivers/pipeline"
	"eoscheck/drivers/protocol"
)

// offsetCommitVersion is the OffsetCommit request of an at-least-once
// commit: v7 (Kafka 2.3) carries the member id and generation, and every
// sarama since 1.43 and Kafka 4.x speak it.
const offsetCommitVersion = 7

// withGroupMetadata is sarama's KIP-447 call: the offsets go into the
// transaction with the member's generation, so that the group refuses a
// member it has moved on from.
const withGroupMetadata = "AddOffsetsToTxnWithGroupMetadata"

type processor struct {
	c      *pipeline.Configure
	loop   *pipeline.Loop
	ap     sarama.AsyncProducer
	client sarama.Client // the group's: its coordinator takes the commits
	group  sarama.ConsumerGroup
	// records are the current session's, from its claims' goroutines.
	records   chan *sarama.ConsumerMessage
	stop      context.CancelFunc // ends consuming
	consuming chan struct{}      // closed when the Consume loop returned

	// batch is held from a Poll to its Polled: a session ends (Cleanup
	// waits for it) between batches, as kafka-clients revokes inside poll.
	batch sync.Mutex

	mu        sync.Mutex
	session   sarama.ConsumerGroupSession // the current one; nil between sessions
	end       context.CancelFunc          // ends the current session
	rewinding bool                        // it is ending for a rewind: its records are not processed
}

func startProcessor(c *pipeline.Configure, loop *pipeline.Loop) (pipeline.Processor, protocol.Started, error) {
	if _, ok := reflect.TypeOf((*sarama.AsyncProducer)(nil)).Elem().MethodByName(withGroupMetadata); c.ExactlyOnce() && !ok {
		return nil, protocol.Started{}, protocol.Reject("sarama %s has no AsyncProducer.%s: its AddOffsetsToTxn commits offsets without the member's generation (KIP-447), so a member the group moved on from could still commit", protocol.ModuleVersion(module), withGroupMetadata)
	}
	sarama.Logger = &sessionLog{report: loop.Session}
	// sarama has no delivery timeout; the processor waits for every outcome.
	pc := c.Producer()
	cfg, _, err := producerConfig(pc, fmt.Sprintf("eoscheck-proc-%d", c.Slot))
	if err != nil {
		return nil, protocol.Started{}, err
	}
	ccfg, err := consumerConfig(c)
	if err != nil {
		return nil, protocol.Started{}, err
	}
	p := &processor{c: c, loop: loop, records: make(chan *sarama.ConsumerMessage, pipeline.MaxBatch), consuming: make(chan struct{})}
	if p.ap, err = newProducer(pc, cfg); err != nil {
		return nil, protocol.Started{}, err
	}
	if err := p.join(ccfg); err != nil {
		p.ap.Close()
		return nil, protocol.Started{}, err
	}
	return p, protocol.Started{Version: protocol.ModuleVersion(module), Config: effective(cfg), Source: "library"}, nil
}

// consumerConfig: the consumer settings (standard names mapped) over the
// processor's own: read_committed, the oldest offset where the group has
// none, no automatic commits, the request versions of the producer's.
func consumerConfig(c *pipeline.Configure) (*sarama.Config, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = fmt.Sprintf("eoscheck-proc-%d-consumer", c.Slot)
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	group := &cfg.Consumer.Group
	err := c.ConsumerDurations("sarama", map[string]func(time.Duration){
		"session.timeout.ms":    func(d time.Duration) { group.Session.Timeout = d },
		"heartbeat.interval.ms": func(d time.Duration) { group.Heartbeat.Interval = d },
		"max.poll.interval.ms":  func(d time.Duration) { group.Rebalance.Timeout = d },
	})
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, protocol.Reject("sarama Config.Validate (consumer): %v", err)
	}
	return cfg, nil
}

// join builds the consumer group and starts consuming.
func (p *processor) join(cfg *sarama.Config) error {
	var err error
	if p.client, err = sarama.NewClient(p.c.Brokers(), cfg); err != nil {
		return fmt.Errorf("sarama.NewClient: %w", err)
	}
	if p.group, err = sarama.NewConsumerGroupFromClient(p.c.Group, p.client); err != nil {
		p.client.Close()
		return fmt.Errorf("sarama.NewConsumerGroupFromClient: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	p.stop = stop
	go p.consume(ctx)
	return nil
}

// consume runs one group session after another (each Consume call joins the
// group) until ctx ends.
func (p *processor) consume(ctx context.Context) {
	defer close(p.consuming)
	for ctx.Err() == nil {
		session, end := context.WithCancel(ctx)
		p.mu.Lock()
		p.end = end
		p.mu.Unlock()
		err := p.group.Consume(session, []string{p.c.Input}, p)
		end()
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return
		}
		if err != nil {
			protocol.Logf("consume: %v", err)
			time.Sleep(pipeline.PollWait)
		}
	}
}

// Setup (sarama.ConsumerGroupHandler) starts a session: its claims are the
// assigned partitions.
func (p *processor) Setup(sess sarama.ConsumerGroupSession) error {
	p.mu.Lock()
	p.session, p.rewinding = sess, false
	p.mu.Unlock()
	p.loop.Assigned(sess.Claims()[p.c.Input])
	return nil
}

// Cleanup ends a session once its claims returned and the batch in hand is
// done: its partitions are revoked (at least once, after committing what is
// pending), or lost when the group no longer knew the member. Records
// fetched and not processed are dropped: the next owner reads them again.
func (p *processor) Cleanup(sess sarama.ConsumerGroupSession) error {
	p.batch.Lock()
	defer p.batch.Unlock()
	for len(p.records) > 0 {
		<-p.records
	}
	partitions := sess.Claims()[p.c.Input]
	if cause := context.Cause(sess.Context()); errors.Is(cause, sarama.ErrUnknownMemberId) || errors.Is(cause, sarama.ErrIllegalGeneration) {
		p.loop.Lost(partitions)
	} else {
		p.loop.Revoked(partitions)
	}
	p.mu.Lock()
	p.session = nil
	p.mu.Unlock()
	return nil
}

// ConsumeClaim hands the claim's records to the loop until the session ends.
func (p *processor) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		select {
		case p.records <- m:
		case <-sess.Context().Done():
			return nil
		}
	}
	return nil
}

// current is the session and whether it is ending for a rewind.
func (p *processor) current() (sarama.ConsumerGroupSession, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session, p.rewinding
}

// Poll takes what the claims handed over: the first record waited for, the
// rest as far as they are there. It holds batch until Polled.
func (p *processor) Poll(wait time.Duration) ([]pipeline.Record, error) {
	p.batch.Lock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	if sess, rewinding := p.current(); sess == nil || rewinding {
		<-timer.C
		return nil, nil
	}
	var batch []pipeline.Record
	select {
	case m := <-p.records:
		batch = append(batch, record(m))
	case <-timer.C:
		return nil, nil
	case <-p.consuming:
		return nil, errors.New("sarama: the consumer group closed")
	}
	for len(batch) < pipeline.MaxBatch {
		select {
		case m := <-p.records:
			batch = append(batch, record(m))
		default:
			return batch, nil
		}
	}
	return batch, nil
}

func record(m *sarama.ConsumerMessage) pipeline.Record {
	return pipeline.Record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value}
}

func (p *processor) Polled() { p.batch.Unlock() }

// Transaction: BeginTxn, the outputs (waited for), the offsets under the
// session's member and generation, CommitTxn. A failure before the commit
// aborts; a failed commit is judged by the transaction status.
func (p *processor) Transaction(n int64, batch []pipeline.Record, next pipeline.Offsets) pipeline.Ending {
	if err := p.ap.BeginTxn(); err != nil {
		return p.failed("begin", err)
	}
	if err := p.Produce(n, batch); err != nil {
		return p.abort(err)
	}
	if err := p.addOffsets(next); err != nil {
		return p.abort(err)
	}
	if err := p.ap.CommitTxn(); err != nil {
		return p.failed("commit", err)
	}
	return pipeline.Ending{Result: pipeline.Committed}
}

// failed: a begin or commit that failed, by what the producer driver answers
// for it: abortable is aborted here, retriable (EndTxn's retries ran out
// while committing) is unknown.
func (p *processor) failed(call string, err error) pipeline.Ending {
	a := txnAnswer(p.ap, call, err)
	switch a.Result {
	case protocol.Abortable:
		return p.abort(err)
	case protocol.Retriable:
		return pipeline.Ending{Result: pipeline.Unknown, Error: a.Error}
	case protocol.Fenced:
		return pipeline.Ending{Result: pipeline.Fenced, Error: a.Error}
	}
	return pipeline.Ending{Result: pipeline.Fatal, Error: a.Error}
}

// abort ends the transaction after cause with AbortTxn: aborted, or, when
// the abort fails (a fenced or fatal producer), the end of the processor.
func (p *processor) abort(cause error) pipeline.Ending {
	name, _ := classify(cause)
	err := p.ap.AbortTxn()
	if err == nil {
		return pipeline.Failed(pipeline.Aborted, name, cause)
	}
	a := txnAnswer(p.ap, "abort", err)
	result := pipeline.Fatal
	if a.Result == protocol.Fenced {
		result = pipeline.Fenced
	}
	return pipeline.Ending{Result: result, Error: name + ": " + cause.Error() + "; then AbortTxn: " + a.Error}
}

// addOffsets is AddOffsetsToTxnWithGroupMetadata with the session's member
// and generation, called by name: sarama releases before it lack the method
// and its ConsumerGroupMetadata type, and the driver still builds with them
// (startProcessor refuses exactly once there).
func (p *processor) addOffsets(next pipeline.Offsets) error {
	sess, _ := p.current()
	if sess == nil {
		return errors.New("eoscheck: no group session to commit in")
	}
	offsets := map[string][]*sarama.PartitionOffsetMetadata{}
	for _, partition := range next.Partitions() {
		offsets[p.c.Input] = append(offsets[p.c.Input], &sarama.PartitionOffsetMetadata{Partition: partition, Offset: next[partition]})
	}
	call := reflect.ValueOf(p.ap).MethodByName(withGroupMetadata)
	meta := reflect.New(call.Type().In(1).Elem())
	meta.Elem().FieldByName("GroupID").SetString(p.c.Group)
	meta.Elem().FieldByName("GenerationID").SetInt(int64(sess.GenerationID()))
	meta.Elem().FieldByName("MemberID").SetString(sess.MemberID())
	err, _ := call.Call([]reflect.Value{reflect.ValueOf(offsets), meta})[0].Interface().(error)
	return err
}

// Produce hands every output to the producer and waits for each outcome;
// the first error.
func (p *processor) Produce(n int64, batch []pipeline.Record) error {
	go func() {
		for _, r := range batch {
			p.ap.Input() <- &sarama.ProducerMessage{
				Topic:     p.c.Output,
				Partition: r.Partition,
				Key:       key(r.Key),
				Value:     sarama.ByteEncoder(pipeline.OutputValue(r, p.c.Slot, n)),
				Metadata:  send{explicit: true},
			}
		}
	}()
	var first error
	for range batch {
		select {
		case <-p.ap.Successes():
		case e := <-p.ap.Errors():
			if first == nil {
				first = e.Err
			}
		}
	}
	return first
}

// key keeps a null key null (a nil ByteEncoder would be an empty key).
func key(k []byte) sarama.Encoder {
	if k == nil {
		return nil
	}
	return sarama.ByteEncoder(k)
}

// Commit sends the group's OffsetCommit under the session's member and
// generation to the coordinator: sarama's own session Commit reports no
// outcome (its errors go to the group's Errors channel, unattributed).
func (p *processor) Commit(offsets pipeline.Offsets) error {
	sess, _ := p.current()
	if sess == nil {
		return errors.New("eoscheck: no group session to commit in")
	}
	coordinator, err := p.client.Coordinator(p.c.Group)
	if err != nil {
		return err
	}
	req := &sarama.OffsetCommitRequest{Version: offsetCommitVersion, ConsumerGroup: p.c.Group,
		ConsumerGroupGeneration: sess.GenerationID(), ConsumerID: sess.MemberID()}
	for partition, o := range offsets {
		req.AddBlock(p.c.Input, partition, o, 0, "")
	}
	resp, err := coordinator.CommitOffset(req)
	if err != nil {
		return err
	}
	for _, partition := range offsets.Partitions() {
		kerr, ok := resp.Errors[p.c.Input][partition]
		if !ok {
			return fmt.Errorf("partition %d: not in the OffsetCommit response", partition)
		}
		if kerr != sarama.ErrNoError {
			return fmt.Errorf("partition %d: %w", partition, kerr)
		}
	}
	return nil
}

// Rewind ends the session: sarama cannot move a claim, and the next session
// starts every claim at the group's committed offset (the oldest where it
// has none). Its revoke and assignment stand for the seeks.
func (p *processor) Rewind(pipeline.Offsets) pipeline.Offsets {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewinding = true
	p.end()
	return nil
}

// Close ends consuming (the last session's Cleanup reports its revoke),
// leaves the group and closes the producer and the client.
func (p *processor) Close() {
	p.stop()
	<-p.consuming
	if err := p.group.Close(); err != nil {
		protocol.Logf("consumer group close: %v", err)
	}
	if err := p.ap.Close(); err != nil {
		protocol.Logf("producer close: %v", err)
	}
	p.client.Close()
}
