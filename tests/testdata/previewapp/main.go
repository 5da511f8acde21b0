// previewapp is a student's web service in the web preview's end-to-end
// test (tests/preview_test.go). It runs in a real sandbox and
// writes down every request it receives, headers and all, as JSON lines
// (what "the sandbox receives" means in that test); echoes on /ws; and
// serves /page, which tries what a hostile page would against the
// platform and reports in window.__result.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"sync"

	"github.com/gorilla/websocket"
)

const page = `<!doctype html><meta charset="utf-8"><title>student page</title>
<p id="p">student page</p>
<script>
(async () => {
  const r = {};
  document.cookie = 'appcookie=1; Path=/';
  // Cookie tossing: cookies for parent domains, named like the platform's.
  document.cookie = 'handson=tossed-localhost; Domain=localhost; Path=/';
  document.cookie = 'handson=tossed-preview; Domain=preview.localhost; Path=/';
  document.cookie = 'handson-preview=tossed; Domain=preview.localhost; Path=/';
  r.cookie = document.cookie;
  const platform = new URLSearchParams(location.search).get('platform');
  try {
    const res = await fetch(platform + '/labs', {credentials: 'include'});
    r.fetchLabs = 'read: ' + res.status + ' ' + (await res.text()).slice(0, 200);
  } catch (e) { r.fetchLabs = 'refused: ' + e; }
  try {
    const res = await fetch(platform + '/labs', {credentials: 'include', mode: 'no-cors'});
    r.fetchLabsNoCors = 'opaque: ' + res.type;
  } catch (e) { r.fetchLabsNoCors = 'refused: ' + e; }
  try {
    const res = await fetch(platform + '/api/labs/' + new URLSearchParams(location.search).get('lab') + '/reset',
      {method: 'POST', credentials: 'include', mode: 'no-cors'});
    r.reset = 'sent: ' + res.type;
  } catch (e) { r.reset = 'refused: ' + e; }
  window.__result = r;
})();
</script>`

func main() {
	addr := flag.String("addr", ":8090", "listen address")
	logPath := flag.String("log", "/tmp/previewapp.jsonl", "where requests are written down")
	flag.Parse()
	f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	record := func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		json.NewEncoder(f).Encode(map[string]any{"method": r.Method, "uri": r.RequestURI, "host": r.Host, "header": r.Header})
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, append([]byte("echo:"), msg...))
		}
	})
	http.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		io.WriteString(w, "previewapp "+r.Host+r.URL.Path)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
