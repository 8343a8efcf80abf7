package remote

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Chunked is a handler result too large for one MQTT message (the
// diagnostics bundle): it goes out as a series of Chunk responses, each well
// under the 128 KB broker limit once base64-encoded.
type Chunked struct {
	Name string // file name for the receiver, like diag-store-0042.tar.gz
	Data []byte
}

// ChunkSize is the raw bytes per chunk: base64 makes it ~117 KB on the wire.
const ChunkSize = 88 << 10

// Chunk is one part of a chunked response on …/cmd/<name>/resp.
type Chunk struct {
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	OK     bool      `json:"ok"`
	File   string    `json:"file"`
	Part   int       `json:"part"` // 1-based
	Parts  int       `json:"parts"`
	Size   int       `json:"size"`   // of the whole file
	SHA256 string    `json:"sha256"` // of the whole file
	Data   []byte    `json:"data"`
	At     time.Time `json:"at"`
}

// Split cuts a chunked result into its responses.
func Split(resp Response, c Chunked) []Chunk {
	sum := sha256.Sum256(c.Data)
	parts := max(1, (len(c.Data)+ChunkSize-1)/ChunkSize)
	out := make([]Chunk, parts)
	for i := range parts {
		lo, hi := i*ChunkSize, min((i+1)*ChunkSize, len(c.Data))
		out[i] = Chunk{ID: resp.ID, Name: resp.Name, OK: true, File: c.Name, Part: i + 1, Parts: parts,
			Size: len(c.Data), SHA256: hex.EncodeToString(sum[:]), Data: c.Data[lo:hi], At: resp.At}
	}
	return out
}

// Assembler puts chunks back together and checks the checksum.
type Assembler struct {
	parts map[int][]byte
	first Chunk
}

// Add takes one chunk; it returns the whole file once every part is in.
func (a *Assembler) Add(c Chunk) ([]byte, bool, error) {
	if a.parts == nil {
		a.parts, a.first = map[int][]byte{}, c
	}
	if c.Parts != a.first.Parts || c.SHA256 != a.first.SHA256 || c.Part < 1 || c.Part > c.Parts {
		return nil, false, errors.New("chunk does not belong to this transfer")
	}
	a.parts[c.Part] = c.Data
	if len(a.parts) < c.Parts {
		return nil, false, nil
	}
	var whole []byte
	for i := 1; i <= c.Parts; i++ {
		whole = append(whole, a.parts[i]...)
	}
	sum := sha256.Sum256(whole)
	if hex.EncodeToString(sum[:]) != c.SHA256 || len(whole) != c.Size {
		return nil, false, fmt.Errorf("checksum mismatch: got %d bytes", len(whole))
	}
	return whole, true, nil
}
