package iscsi

import (
	"bytes"
	"errors"
	"fmt"
)

// Limits of the text key=value format (RFC 7143 section 6.1).
const (
	maxKeyLen   = 63
	maxValueLen = 8192 // values such as CHAP_C may be long; simple values are checked per key
)

// ErrBadText is returned for a malformed text data segment.
var ErrBadText = errors.New("iscsi: malformed key=value text")

// KeyValue is one key=value pair of a Login or Text data segment.
type KeyValue struct {
	Key, Value string
}

// ParseText decodes a NUL-separated list of key=value pairs. Keys must be
// 1–63 bytes of [A-Za-z0-9.-+@_] and appear only once. Trailing padding NULs
// are tolerated.
func ParseText(b []byte) ([]KeyValue, error) {
	var kvs []KeyValue
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		var item []byte
		if i < 0 {
			item, b = b, nil // tolerate a missing final NUL
		} else {
			item, b = b[:i], b[i+1:]
		}
		if len(item) == 0 {
			// Only padding NULs may follow.
			if len(bytes.Trim(b, "\x00")) != 0 {
				return nil, fmt.Errorf("%w: empty pair", ErrBadText)
			}
			break
		}
		eq := bytes.IndexByte(item, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("%w: %q has no key", ErrBadText, clip(item))
		}
		key, val := item[:eq], item[eq+1:]
		if len(key) > maxKeyLen || !validKey(key) {
			return nil, fmt.Errorf("%w: bad key %q", ErrBadText, clip(key))
		}
		if len(val) > maxValueLen {
			return nil, fmt.Errorf("%w: value of %s too long", ErrBadText, key)
		}
		k := string(key)
		for _, kv := range kvs {
			if kv.Key == k {
				return nil, fmt.Errorf("%w: key %s repeated", ErrBadText, k)
			}
		}
		kvs = append(kvs, KeyValue{k, string(val)})
	}
	return kvs, nil
}

func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

func validKey(k []byte) bool {
	for _, c := range k {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '+', c == '@', c == '_':
		default:
			return false
		}
	}
	return true
}

// AppendText appends key=value\0 for each pair.
func AppendText(b []byte, kvs ...KeyValue) []byte {
	for _, kv := range kvs {
		b = append(b, kv.Key...)
		b = append(b, '=')
		b = append(b, kv.Value...)
		b = append(b, 0)
	}
	return b
}
