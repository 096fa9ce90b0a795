package main

import (
	"encoding"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"eoscheck/drivers/protocol"
)

// configure applies the configuration to cfg: Config paths as they are,
// standard names mapped. It returns delivery.timeout.ms, which sarama has no
// setting for (0 when not given).
func configure(cfg *sarama.Config, config map[string]string) (time.Duration, error) {
	for _, name := range protocol.Names(config) {
		if err := apply(cfg, name, config[name]); err != nil {
			return 0, err
		}
	}
	var deliveryTimeout time.Duration
	if v, ok := config["delivery.timeout.ms"]; ok {
		d, err := protocol.Millis(v)
		if err != nil {
			return 0, protocol.RejectSetting("delivery.timeout.ms", "%v", err)
		}
		deliveryTimeout = d
	}
	if v, ok := config["retries"]; ok {
		if err := retries(cfg, v, deliveryTimeout); err != nil {
			return 0, err
		}
	}
	return deliveryTimeout, nil
}

// apply applies one entry of the configuration, but for delivery.timeout.ms
// and retries, which configure applies once the rest is known.
func apply(cfg *sarama.Config, name, v string) error {
	if _, ok := fields[name]; ok {
		if err := set(cfg, name, v); err != nil {
			return protocol.RejectSetting(name, "%v", err)
		}
		return nil
	}
	if name == "acks" {
		acks, ok := standardAcks[v]
		if !ok {
			return protocol.RejectSetting(name, "%q is none of all, -1, 1, 0", v)
		}
		v = acks
	}
	if paths, ok := aliases[name]; ok {
		for _, path := range paths {
			if err := set(cfg, path, v); err != nil {
				return protocol.RejectSetting(name, "%s: %v", path, err)
			}
		}
		return nil
	}
	switch name {
	case "delivery.timeout.ms", "retries":
		return nil
	case "max.block.ms":
		return protocol.RejectSetting(name, "sarama has no bound on how long AsyncProducer.Input() blocks once ChannelBufferSize messages wait")
	case "buffer.memory":
		return protocol.RejectSetting(name, "sarama has no producer memory bound in bytes (ChannelBufferSize counts messages, per channel)")
	}
	return protocol.RejectSetting(name, "neither a Config field of sarama %s (sarama.native) nor a standard name the sarama driver maps", protocol.ModuleVersion(module))
}

// aliases are the standard names that are sarama Config fields under
// another name. request.timeout.ms is both the broker's wait for acks
// (Producer.Timeout) and the client's for a response (Net.ReadTimeout).
var aliases = map[string][]string{
	"enable.idempotence":                    {"Producer.Idempotent"},
	"acks":                                  {"Producer.RequiredAcks"},
	"max.in.flight.requests.per.connection": {"Net.MaxOpenRequests"},
	"request.timeout.ms":                    {"Producer.Timeout", "Net.ReadTimeout"},
	"linger.ms":                             {"Producer.Flush.Frequency"},
	"retry.backoff.ms":                      {"Producer.Retry.Backoff"},
	"batch.size":                            {"Producer.Flush.Bytes"},
	"max.request.size":                      {"Producer.MaxMessageBytes"},
	"compression.type":                      {"Producer.Compression"},
	"client.id":                             {"ClientID"},
	"metadata.max.age.ms":                   {"Metadata.RefreshFrequency"},
	"socket.connection.setup.timeout.ms":    {"Net.DialTimeout"},
	"transactional.id":                      {"Producer.Transaction.ID"},
	"transaction.timeout.ms":                {"Producer.Transaction.Timeout"},
}

var standardAcks = map[string]string{"all": "WaitForAll", "-1": "WaitForAll", "1": "WaitForLocal", "0": "NoResponse"}

// retries maps `retries` to Producer.Retry.Max. 2147483647 means "as often as
// delivery.timeout.ms allows": sarama allocates Retry.Max+1 retry states per
// partition (that many exhaust memory) and backs off at least Retry.Backoff
// between tries, so it becomes the count that covers the delivery timeout.
func retries(cfg *sarama.Config, v string, deliveryTimeout time.Duration) error {
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return protocol.RejectSetting("retries", "%q is not a count", v)
	case n < math.MaxInt32:
		cfg.Producer.Retry.Max = n
	case deliveryTimeout == 0:
		return protocol.RejectSetting("retries", "%d means as often as delivery.timeout.ms allows, which is not given; sarama has no delivery timeout and allocates Producer.Retry.Max+1 retry states per partition", n)
	default:
		cfg.Producer.Retry.Max = int(deliveryTimeout/max(cfg.Producer.Retry.Backoff, time.Millisecond)) + 1
		protocol.Logf("retries %d: Producer.Retry.Max = %d (delivery.timeout.ms / Producer.Retry.Backoff %v, plus 1)", n, cfg.Producer.Retry.Max, cfg.Producer.Retry.Backoff)
	}
	return nil
}

// fields are sarama.Config's settable leaves by path (Producer.Flush.Frequency
// is Config.Producer.Flush.Frequency), with their field indices: the native
// names, which `driver-sarama -native` prints. A leaf is a bool, number,
// string, time.Duration or KafkaVersion; funcs, pointers, interfaces and
// slices are not settable from text. Left out: Consumer and Admin, which a
// producer does not read, and Producer.Return, which the driver needs on.
var fields = leaves(reflect.TypeOf(sarama.Config{}), "", nil)

var (
	durationType = reflect.TypeOf(time.Duration(0))
	versionType  = reflect.TypeOf(sarama.KafkaVersion{})
	acksType     = reflect.TypeOf(sarama.RequiredAcks(0))
)

func leaves(t reflect.Type, prefix string, index []int) map[string][]int {
	found := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		path, at := prefix+f.Name, append(slices.Clip(index), i)
		switch {
		case !f.IsExported() || path == "Consumer" || path == "Admin" || path == "Producer.Return":
		case isLeaf(f.Type):
			found[path] = at
		case f.Type.Kind() == reflect.Struct:
			maps.Copy(found, leaves(f.Type, path+".", at))
		}
	}
	return found
}

func isLeaf(t reflect.Type) bool {
	if t == durationType || t == versionType {
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// ackNames are the names of sarama's RequiredAcks constants.
var ackNames = map[string]sarama.RequiredAcks{
	"WaitForAll":   sarama.WaitForAll,
	"WaitForLocal": sarama.WaitForLocal,
	"NoResponse":   sarama.NoResponse,
}

// set parses s into the field at path the way its type needs: a duration in
// milliseconds, a KafkaVersion as "3.6.0", RequiredAcks as a number or a
// constant's name, a type with UnmarshalText (CompressionCodec: none, gzip,
// snappy, lz4, zstd) by that.
func set(cfg *sarama.Config, path, s string) error {
	f := reflect.ValueOf(cfg).Elem().FieldByIndex(fields[path])
	if n, ok := ackNames[s]; ok && f.Type() == acksType {
		f.SetInt(int64(n))
		return nil
	}
	switch f.Type() {
	case durationType:
		d, err := protocol.Millis(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	case versionType:
		v, err := sarama.ParseKafkaVersion(s)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(v))
		return nil
	}
	if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	var err error
	switch f.Kind() {
	case reflect.Bool:
		var b bool
		if b, err = strconv.ParseBool(s); err == nil {
			f.SetBool(b)
		}
	case reflect.String:
		f.SetString(s)
	case reflect.Float32, reflect.Float64:
		var x float64
		if x, err = strconv.ParseFloat(s, f.Type().Bits()); err == nil {
			f.SetFloat(x)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var n uint64
		if n, err = strconv.ParseUint(s, 10, f.Type().Bits()); err == nil {
			f.SetUint(n)
		}
	default: // the signed integers
		var n int64
		if n, err = strconv.ParseInt(s, 10, f.Type().Bits()); err == nil {
			f.SetInt(n)
		}
	}
	if err != nil {
		return fmt.Errorf("%q is not a valid %s", s, f.Type())
	}
	return nil
}

// effective reads every native field back from cfg: sarama's defaults
// (NewConfig) with the driver's and the configuration's changes.
func effective(cfg *sarama.Config) map[string]string {
	c := reflect.ValueOf(cfg).Elem()
	config := make(map[string]string, len(fields))
	for path, index := range fields {
		f := c.FieldByIndex(index)
		if f.Type() == durationType {
			config[path] = strconv.FormatInt(time.Duration(f.Int()).Milliseconds(), 10)
		} else {
			config[path] = fmt.Sprint(f.Interface())
		}
	}
	return config
}
