package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"mime"
	"net/http"
	"path"
)

// assets are the page's files, embedded: the page works offline and loads
// nothing from elsewhere (the CSP forbids it anyway).
//
//go:embed assets/index.html assets/app.js assets/style.css assets/icon.svg
var assets embed.FS

type asset struct {
	body  []byte
	etag  string
	ctype string
}

// loadAssets reads the embedded files once, with their ETags.
func loadAssets() map[string]asset {
	out := map[string]asset{}
	ents, _ := assets.ReadDir("assets")
	for _, e := range ents {
		b, err := assets.ReadFile("assets/" + e.Name())
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[e.Name()] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ct}
	}
	return out
}

var pageAssets = loadAssets()

// PageWeight is the bytes a first visit downloads (HTML, script, style,
// icon), for the benchmark report.
func PageWeight() int {
	n := 0
	for _, a := range pageAssets {
		n += len(a.body)
	}
	return n
}

func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := pageAssets[name]
	if !ok {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", "no-cache") // revalidate: firmware updates change them
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Write(a.body)
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) { serveAsset(w, r, "index.html") }

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	serveAsset(w, r, name)
}
