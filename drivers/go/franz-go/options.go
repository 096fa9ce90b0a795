package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"eoscheck/drivers/protocol"
)

// options turns the configuration into kgo options, in name order.
func options(config map[string]string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	for _, name := range protocol.Names(config) {
		o, err := option(name, config[name], config)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o...)
	}
	return opts, nil
}

// option is one configuration entry as kgo options: a native name as it is,
// a standard name mapped.
func option(name, v string, config map[string]string) ([]kgo.Opt, error) {
	if parse, ok := native[name]; ok {
		o, err := parse(v)
		if err != nil {
			return nil, protocol.RejectSetting(name, "%v", err)
		}
		return nonNil(o), nil
	}
	if targets, ok := aliases[name]; ok {
		var opts []kgo.Opt
		for _, t := range targets {
			o, err := native[t](v)
			if err != nil {
				return nil, protocol.RejectSetting(name, "%s: %v", t, err)
			}
			opts = append(opts, nonNil(o)...)
		}
		return opts, nil
	}
	switch name {
	case "enable.idempotence":
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, protocol.RejectSetting(name, "%q is not true or false", v)
		}
		if on {
			return nil, nil // kgo's default; it needs RequiredAcks(AllISRAcks())
		}
		return []kgo.Opt{kgo.DisableIdempotentWrite()}, nil
	case "max.in.flight.requests.per.connection":
		return inflight(v, idempotent(config))
	case "retry.backoff.ms":
		d, err := protocol.Millis(v)
		if err != nil {
			return nil, protocol.RejectSetting(name, "%v", err)
		}
		protocol.Logf("retry.backoff.ms: RetryBackoffFn backs off %v before every retry (kgo's default grows with each try)", d)
		return []kgo.Opt{kgo.RetryBackoffFn(func(int) time.Duration { return d })}, nil
	case "max.block.ms":
		return nil, protocol.RejectSetting(name, "kgo has no bound on how long Produce blocks: it waits for buffer space (MaxBufferedRecords/MaxBufferedBytes) until its context ends")
	case protocol.TransactionalID:
		// Not a native name: the harness gives each producer its own.
		return []kgo.Opt{kgo.TransactionalID(v)}, nil
	}
	return nil, protocol.RejectSetting(name, "neither a kgo option the driver takes (franz-go.native) nor a standard name it maps")
}

// aliases are the standard names that are kgo options under another name.
// request.timeout.ms is both the broker's wait for acks and the client's for
// a response; kgo waits ProduceRequestTimeout + RequestTimeoutOverhead for
// a produce response, RequestTimeoutOverhead for any other.
var aliases = map[string][]string{
	"acks":                               {"RequiredAcks"},
	"retries":                            {"RecordRetries"},
	"request.timeout.ms":                 {"ProduceRequestTimeout", "RequestTimeoutOverhead"},
	"delivery.timeout.ms":                {"RecordDeliveryTimeout"},
	"linger.ms":                          {"ProducerLinger"},
	"batch.size":                         {"ProducerBatchMaxBytes"},
	"max.request.size":                   {"BrokerMaxWriteBytes"},
	"buffer.memory":                      {"MaxBufferedBytes"},
	"compression.type":                   {"ProducerBatchCompression"},
	"client.id":                          {"ClientID"},
	"metadata.max.age.ms":                {"MetadataMaxAge"},
	"connections.max.idle.ms":            {"ConnIdleTimeout"},
	"socket.connection.setup.timeout.ms": {"DialTimeout"},
	"transaction.timeout.ms":             {"TransactionTimeout"},
}

// idempotentInflight is what kgo always uses with idempotence (Kafka >= 1.0);
// MaxProduceRequestsInflightPerBroker only applies without it.
const idempotentInflight = 5

// inflight maps max.in.flight.requests.per.connection. With idempotence kgo
// refuses MaxProduceRequestsInflightPerBroker unless it is 1, its default,
// and runs 5 per broker whatever it says.
func inflight(v string, idempotent bool) ([]kgo.Opt, error) {
	const name = "max.in.flight.requests.per.connection"
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return nil, protocol.RejectSetting(name, "%q is not a count", v)
	case !idempotent:
		return []kgo.Opt{kgo.MaxProduceRequestsInflightPerBroker(n)}, nil
	case n == idempotentInflight:
		protocol.Logf("%s %d with idempotence: kgo runs %d per broker by itself; MaxProduceRequestsInflightPerBroker not passed", name, n, idempotentInflight)
		return nil, nil
	case n == 1:
		// kgo would accept 1 (its default value) and still run 5 in flight.
		return nil, protocol.RejectSetting(name, "kgo always allows %d in-flight produce requests per broker when idempotent; MaxProduceRequestsInflightPerBroker applies only with DisableIdempotentWrite", idempotentInflight)
	}
	return []kgo.Opt{kgo.MaxProduceRequestsInflightPerBroker(n)}, nil // kgo refuses it
}

// idempotent says whether the configuration leaves kgo's idempotent writes
// on, its default.
func idempotent(config map[string]string) bool {
	enabled, err := strconv.ParseBool(config["enable.idempotence"])
	disabled, _ := strconv.ParseBool(config["DisableIdempotentWrite"])
	return (err != nil || enabled) && !disabled
}

// parser turns a value into a kgo option; nil when there is nothing to pass
// (a switch option's false, kgo's default).
type parser func(v string) (kgo.Opt, error)

// native are the kgo options that take one value, by their kgo names; the
// file franz-go.native lists them.
var native = map[string]parser{
	"BrokerMaxReadBytes":                  number(kgo.BrokerMaxReadBytes),
	"BrokerMaxWriteBytes":                 number(kgo.BrokerMaxWriteBytes),
	"ClientID":                            text(kgo.ClientID),
	"ConnIdleTimeout":                     duration(kgo.ConnIdleTimeout),
	"ConsiderMissingTopicDeletedAfter":    duration(kgo.ConsiderMissingTopicDeletedAfter),
	"DialTimeout":                         duration(kgo.DialTimeout),
	"DisableIdempotentWrite":              switchOn(kgo.DisableIdempotentWrite),
	"MaxBufferedBytes":                    number(kgo.MaxBufferedBytes),
	"MaxBufferedRecords":                  number(kgo.MaxBufferedRecords),
	"MaxProduceRequestsInflightPerBroker": number(kgo.MaxProduceRequestsInflightPerBroker),
	"MetadataMaxAge":                      duration(kgo.MetadataMaxAge),
	"MetadataMinAge":                      duration(kgo.MetadataMinAge),
	"ProduceRequestTimeout":               duration(kgo.ProduceRequestTimeout),
	"ProducerBatchCompression":            compression,
	"ProducerBatchMaxBytes":               number(kgo.ProducerBatchMaxBytes),
	"ProducerLinger":                      duration(kgo.ProducerLinger),
	"RecordDeliveryTimeout":               duration(kgo.RecordDeliveryTimeout),
	"RecordRetries":                       number(kgo.RecordRetries),
	"RequestRetries":                      number(kgo.RequestRetries),
	"RequestTimeoutOverhead":              duration(kgo.RequestTimeoutOverhead),
	"RequiredAcks":                        acks,
	"RetryTimeout":                        duration(kgo.RetryTimeout),
	"StopProducerOnDataLossDetected":      switchOn(kgo.StopProducerOnDataLossDetected),
	"TransactionTimeout":                  duration(kgo.TransactionTimeout),
	"UnknownTopicRetries":                 number(kgo.UnknownTopicRetries),
}

func text[O kgo.Opt](f func(string) O) parser {
	return func(v string) (kgo.Opt, error) { return f(v), nil }
}

func duration[O kgo.Opt](f func(time.Duration) O) parser {
	return func(v string) (kgo.Opt, error) {
		d, err := protocol.Millis(v)
		if err != nil {
			return nil, err
		}
		return f(d), nil
	}
}

func number[O kgo.Opt, N int | int32](f func(N) O) parser {
	return func(v string) (kgo.Opt, error) {
		i, err := strconv.ParseInt(v, 10, 64)
		if err != nil || int64(N(i)) != i {
			return nil, fmt.Errorf("%q is not a valid %T", v, N(0))
		}
		return f(N(i)), nil
	}
}

// switchOn is an option without an argument: "true" passes it, "false"
// leaves kgo's default (off).
func switchOn[O kgo.Opt](f func() O) parser {
	return func(v string) (kgo.Opt, error) {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", v)
		}
		if !on {
			return nil, nil
		}
		return f(), nil
	}
}

var ackNames = map[kgo.Acks][]string{
	kgo.AllISRAcks(): {"AllISRAcks", "all", "-1"},
	kgo.LeaderAck():  {"LeaderAck", "1"},
	kgo.NoAck():      {"NoAck", "0"},
}

func acks(v string) (kgo.Opt, error) {
	for a, names := range ackNames {
		if slices.Contains(names, v) {
			return kgo.RequiredAcks(a), nil
		}
	}
	return nil, fmt.Errorf("%q is none of AllISRAcks (all, -1), LeaderAck (1), NoAck (0)", v)
}

var codecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// compression takes a codec, or several in order of preference, by Kafka's
// names (none, gzip, snappy, lz4, zstd), comma-separated.
func compression(v string) (kgo.Opt, error) {
	var preference []kgo.CompressionCodec
	for _, name := range strings.Split(v, ",") {
		c, ok := codecs[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("%q is none of none, gzip, snappy, lz4, zstd", name)
		}
		preference = append(preference, c)
	}
	return kgo.ProducerBatchCompression(preference...), nil
}

func nonNil(o kgo.Opt) []kgo.Opt {
	if o == nil {
		return nil
	}
	return []kgo.Opt{o}
}

// effective reads the value of every native option back from the client
// with kgo's OptValue: kgo's defaults and what was set. An option kgo does
// not report at the linked version is left out.
func effective(cl *kgo.Client) map[string]string {
	config := make(map[string]string, len(native))
	for name := range native {
		if v := cl.OptValue(name); v != nil {
			config[name] = format(v)
		}
	}
	return config
}

func format(v any) string {
	switch v := v.(type) {
	case time.Duration:
		return strconv.FormatInt(v.Milliseconds(), 10)
	case kgo.Acks:
		return ackNames[v][0]
	case []kgo.CompressionCodec:
		names := make([]string, len(v))
		for i, c := range v {
			names[i] = codecName(c)
		}
		return strings.Join(names, ",")
	}
	return fmt.Sprint(v)
}

func codecName(c kgo.CompressionCodec) string {
	for name, known := range codecs {
		if c == known {
			return name
		}
	}
	return fmt.Sprint(c)
}
