package wire

import "encoding/binary"

// HelloStatus says how far ParseClientHello got.
type HelloStatus uint8

// ParseClientHello results.
const (
	// NotHello: the bytes do not start a TLS handshake record holding a ClientHello.
	NotHello HelloStatus = iota
	// HelloPartial: a ClientHello starts here but more bytes are needed.
	HelloPartial
	// HelloComplete: the whole ClientHello was parsed (SNI may still be empty).
	HelloComplete
	// HelloMalformed: a ClientHello starts here but its fields are inconsistent,
	// or it is larger than the scratch buffer allows.
	HelloMalformed
)

// TLS record and handshake constants (RFC 8446 §5.1, §4).
const (
	tlsRecordHeader    = 5
	tlsHandshake       = 0x16
	tlsClientHello     = 0x01
	tlsMaxRecordLen    = 16384 + 2048 // TLSCiphertext bound; plaintext handshakes stay below it
	extServerName      = 0
	sniHostName        = 0
	maxHostnameLen     = 253
	clientHelloFixedSz = 2 + 32 + 1 // version, random, session id length
)

// LooksLikeClientHello reports whether b starts a TLS handshake record whose
// first handshake message is a ClientHello. It needs 6 bytes.
func LooksLikeClientHello(b []byte) bool {
	return len(b) >= 6 && b[0] == tlsHandshake && b[1] == 3 && b[2] <= 4 && b[5] == tlsClientHello
}

// ParseClientHello parses the TLS records at the start of b and returns the
// server name of the ClientHello they carry. A ClientHello may span several
// records (RFC 8446 §5.1 allows handshake fragmentation); their bodies are
// then joined in scratch, whose length bounds the message. The returned sni
// aliases b or scratch and is valid until either changes. Nothing is
// allocated and no input makes it panic.
func ParseClientHello(b, scratch []byte) (sni []byte, st HelloStatus) {
	if len(b) < 6 {
		if len(b) == 0 || b[0] != tlsHandshake || (len(b) >= 2 && b[1] != 3) {
			return nil, NotHello
		}
		return nil, HelloPartial
	}
	if !LooksLikeClientHello(b) {
		return nil, NotHello
	}
	// The first record: its body starts with the handshake header.
	recLen := int(binary.BigEndian.Uint16(b[3:5]))
	if recLen < 4 || recLen > tlsMaxRecordLen {
		return nil, HelloMalformed
	}
	if len(b) < tlsRecordHeader+4 {
		return nil, HelloPartial
	}
	msgLen := 4 + (int(b[6])<<16 | int(b[7])<<8 | int(b[8]))
	if msgLen > 4+0xffff {
		return nil, HelloMalformed // no ClientHello needs more than its 16-bit extension block allows
	}
	body := b[tlsRecordHeader:min(len(b), tlsRecordHeader+recLen)]
	if recLen >= msgLen {
		// The common case: the message fits its record.
		if len(body) < msgLen {
			return nil, HelloPartial
		}
		return parseHelloBody(body[4:msgLen])
	}
	// Fragmented over records: join the bodies in scratch.
	if msgLen > len(scratch) {
		return nil, HelloMalformed
	}
	if len(body) < recLen {
		return nil, HelloPartial
	}
	n := copy(scratch, body)
	rest := b[tlsRecordHeader+recLen:]
	for n < msgLen {
		if len(rest) < tlsRecordHeader {
			if len(rest) > 0 && rest[0] != tlsHandshake {
				return nil, HelloMalformed
			}
			return nil, HelloPartial
		}
		if rest[0] != tlsHandshake || rest[1] != 3 {
			return nil, HelloMalformed
		}
		l := int(binary.BigEndian.Uint16(rest[3:5]))
		if l == 0 || l > tlsMaxRecordLen {
			return nil, HelloMalformed
		}
		if len(rest) < tlsRecordHeader+l {
			return nil, HelloPartial
		}
		take := min(l, msgLen-n)
		n += copy(scratch[n:], rest[tlsRecordHeader:tlsRecordHeader+take])
		rest = rest[tlsRecordHeader+l:]
	}
	return parseHelloBody(scratch[4:msgLen])
}

// parseHelloBody walks a complete ClientHello body (after the 4-byte
// handshake header) to the server_name extension.
func parseHelloBody(m []byte) ([]byte, HelloStatus) {
	if len(m) < clientHelloFixedSz {
		return nil, HelloMalformed
	}
	p := 2 + 32
	p += 1 + int(m[p]) // session id
	if len(m) < p+2 {
		return nil, HelloMalformed
	}
	p += 2 + int(binary.BigEndian.Uint16(m[p:])) // cipher suites
	if len(m) < p+1 {
		return nil, HelloMalformed
	}
	p += 1 + int(m[p]) // compression methods
	if len(m) == p {
		return nil, HelloComplete // SSLv3-style hello without extensions
	}
	if len(m) < p+2 {
		return nil, HelloMalformed
	}
	extLen := int(binary.BigEndian.Uint16(m[p:]))
	p += 2
	if len(m) < p+extLen {
		return nil, HelloMalformed
	}
	ext := m[p : p+extLen]
	for len(ext) >= 4 {
		typ := binary.BigEndian.Uint16(ext)
		l := int(binary.BigEndian.Uint16(ext[2:]))
		if len(ext) < 4+l {
			return nil, HelloMalformed
		}
		if typ == extServerName {
			return parseServerName(ext[4 : 4+l])
		}
		ext = ext[4+l:]
	}
	if len(ext) != 0 {
		return nil, HelloMalformed
	}
	return nil, HelloComplete
}

// parseServerName reads the host_name entry of a server_name extension
// (RFC 6066 §3) and checks it is a plausible DNS name.
func parseServerName(e []byte) ([]byte, HelloStatus) {
	if len(e) < 2 {
		return nil, HelloMalformed
	}
	list := int(binary.BigEndian.Uint16(e))
	if len(e) < 2+list {
		return nil, HelloMalformed
	}
	e = e[2 : 2+list]
	for len(e) >= 3 {
		typ := e[0]
		l := int(binary.BigEndian.Uint16(e[1:]))
		if len(e) < 3+l {
			return nil, HelloMalformed
		}
		if typ == sniHostName {
			name := e[3 : 3+l]
			if !ValidHostname(name) {
				return nil, HelloMalformed
			}
			return name, HelloComplete
		}
		e = e[3+l:]
	}
	return nil, HelloComplete
}

// ValidHostname reports whether b is a DNS name we are willing to keep:
// 1-253 bytes of letters, digits, '-', '_' and '.', without empty labels.
// It keeps hostile bytes out of the snapshot, logs and telemetry.
func ValidHostname(b []byte) bool {
	if len(b) == 0 || len(b) > maxHostnameLen || b[0] == '.' {
		return false
	}
	prevDot := false
	for _, c := range b {
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		prevDot = false
	}
	return true
}
