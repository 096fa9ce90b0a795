package main

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultPartitioner is kgo's own default partitioner at the linked version.
// kgo shows its defaults only through a client's OptValue, so a client is
// built with opts and closed before it ever connects.
func defaultPartitioner(opts []kgo.Opt) (kgo.Partitioner, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return cl.OptValue(kgo.RecordPartitioner).(kgo.Partitioner), nil
}

// explicitKey marks, in a record's Context, a send that named its partition.
type explicitKey struct{}

var explicitCtx = context.WithValue(context.Background(), explicitKey{}, true)

func isExplicit(r *kgo.Record) bool { return r.Context != nil && r.Context.Value(explicitKey{}) != nil }

// explicitFirst puts a record that named its partition exactly there and
// leaves every other record to kgo's default partitioner.
type explicitFirst struct{ dflt kgo.Partitioner }

func (p explicitFirst) ForTopic(topic string) kgo.TopicPartitioner {
	tp := &explicitFirstTopic{dflt: p.dflt.ForTopic(topic)}
	if sticky, ok := tp.dflt.(kgo.TopicPartitionerOnNewBatch); ok {
		return explicitFirstSticky{tp, sticky}
	}
	return tp
}

// explicitFirstTopic is always a TopicBackupPartitioner, so kgo hands it the
// buffered-records input that a default like UniformBytesPartitioner needs,
// and never calls Partition.
type explicitFirstTopic struct {
	dflt     kgo.TopicPartitioner
	explicit bool // the last record partitioned was explicit
}

// RequiresConsistency is true for an explicit record: kgo then offers every
// partition, indexed by number, not only the writable ones.
func (p *explicitFirstTopic) RequiresConsistency(r *kgo.Record) bool {
	return isExplicit(r) || p.dflt.RequiresConsistency(r)
}

func (p *explicitFirstTopic) Partition(*kgo.Record, int) int {
	panic("unreachable: kgo calls PartitionByBackup")
}

func (p *explicitFirstTopic) PartitionByBackup(r *kgo.Record, n int, backup kgo.TopicBackupIter) int {
	if p.explicit = isExplicit(r); p.explicit {
		return int(r.Partition)
	}
	if b, ok := p.dflt.(kgo.TopicBackupPartitioner); ok {
		return b.PartitionByBackup(r, n, backup)
	}
	return p.dflt.Partition(r, n)
}

// explicitFirstSticky is for a default partitioner that moves on with each
// new batch (kgo's default since 1.6, UniformBytesPartitioner, does not):
// only the batches it chose move it on.
type explicitFirstSticky struct {
	*explicitFirstTopic
	sticky kgo.TopicPartitionerOnNewBatch
}

func (p explicitFirstSticky) OnNewBatch() {
	if !p.explicit {
		p.sticky.OnNewBatch()
	}
}
