package main

import "github.com/IBM/sarama"

// explicitFirst wraps sarama's default partitioner so that a message that
// named its partition goes exactly there; sarama honours
// ProducerMessage.Partition only with its ManualPartitioner.
func explicitFirst(dflt sarama.PartitionerConstructor) sarama.PartitionerConstructor {
	return func(topic string) sarama.Partitioner { return partitioner{dflt(topic)} }
}

type partitioner struct{ dflt sarama.Partitioner }

func (p partitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if m.Metadata.(send).explicit {
		return m.Partition, nil
	}
	return p.dflt.Partition(m, n)
}

func (p partitioner) RequiresConsistency() bool { return p.dflt.RequiresConsistency() }

// MessageRequiresConsistency is true for an explicit message: sarama then
// offers every partition, indexed by number, not only the writable ones.
func (p partitioner) MessageRequiresConsistency(m *sarama.ProducerMessage) bool {
	if m.Metadata.(send).explicit {
		return true
	}
	if d, ok := p.dflt.(sarama.DynamicConsistencyPartitioner); ok {
		return d.MessageRequiresConsistency(m)
	}
	return p.dflt.RequiresConsistency()
}
