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
	// Name is the sender's name for the file, for a log line at most: a
	// receiver names files itself and never writes to a path from the
	// network.
	Name string
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

// MaxFile bounds a chunked file a receiver assembles: the bundle holds at
// most a 16 MiB capture and a few logs.
const MaxFile = 64 << 20

// Assembler puts chunks back together and checks the checksum. It belongs
// to one command: a chunk with another id is refused, so an answer cannot be
// slipped into a transfer it was not asked for.
type Assembler struct {
	ID    string // the command's id; every chunk must carry it
	parts map[int][]byte
	first Chunk
}

// Add takes one chunk; it returns the whole file once every part is in.
func (a *Assembler) Add(c Chunk) ([]byte, bool, error) {
	switch {
	case c.ID != a.ID:
		return nil, false, fmt.Errorf("chunk of command %q, not of %q", clipID(c.ID), a.ID)
	case c.Size < 0 || c.Size > MaxFile || len(c.Data) > ChunkSize ||
		c.Parts != max(1, (c.Size+ChunkSize-1)/ChunkSize):
		return nil, false, fmt.Errorf("chunk claims %d bytes in %d parts: not a transfer of at most %d MiB in %d KiB parts",
			c.Size, c.Parts, MaxFile>>20, ChunkSize>>10)
	}
	if a.parts == nil {
		a.parts, a.first = map[int][]byte{}, c
	}
	if c.Parts != a.first.Parts || c.SHA256 != a.first.SHA256 || c.Size != a.first.Size || c.Part < 1 || c.Part > c.Parts {
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

// clipID keeps an id from the network short in an error.
func clipID(id string) string {
	if len(id) > 40 {
		return id[:40] + "…"
	}
	return id
}
