// A minimal Go WebSocket server (gorilla/websocket) speaking enough of switchboard's
// protocol for the benchmark's direct, fanout, broadcast and idle scenarios: client_id
// identity, ping -> pong, message -> ack + delivery, join/publish, broadcast, read.
// It stores nothing: it is the yardstick sb-bench compares switchboard with, written the
// way the library's examples suggest (a reader and a writer goroutine per connection,
// each event encoded once and shared by its recipients).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	CheckOrigin:     func(r *http.Request) bool { return true },
}

var clientID = regexp.MustCompile(`^[A-Za-z0-9._@:-]{1,64}$`)

type client struct {
	conn  *websocket.Conn
	user  string
	send  chan []byte
	done  chan struct{}   // closed once: the writer stops, queue() drops
	rooms map[string]bool // touched by the reader goroutine only
	once  sync.Once
}

type hub struct {
	mu    sync.RWMutex
	users map[string]map[*client]bool
	rooms map[string]map[*client]bool
	all   map[*client]bool
	seq   uint64
}

var h = &hub{
	users: map[string]map[*client]bool{},
	rooms: map[string]map[*client]bool{},
	all:   map[*client]bool{},
}

func nextID() string {
	return fmt.Sprintf("%020d", atomic.AddUint64(&h.seq, 1))
}

func nowMs() int64 { return time.Now().UnixNano() / 1e6 }

// queue hands b to c's writer; a client whose queue is full is a slow consumer and is dropped.
func (c *client) queue(b []byte) {
	select {
	case c.send <- b:
	case <-c.done:
	default:
		c.close()
	}
}

func (c *client) close() {
	c.once.Do(func() { close(c.done) })
}

func (c *client) reply(typ string, ref interface{}, data interface{}) {
	env := map[string]interface{}{"type": typ, "data": data}
	if ref != nil {
		env["ref"] = ref
	}
	b, _ := json.Marshal(env)
	c.queue(b)
}

func (c *client) fail(ref interface{}, code, msg string) {
	c.reply("error", ref, map[string]interface{}{"code": code, "message": msg})
}

func event(typ string, data map[string]interface{}) []byte {
	b, _ := json.Marshal(map[string]interface{}{"type": typ, "data": data})
	return b
}

func (c *client) handle(raw []byte) {
	var env struct {
		Type string                 `json:"type"`
		Ref  interface{}            `json:"ref"`
		Data map[string]interface{} `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		c.fail(nil, "bad_json", "not a JSON object")
		return
	}
	if env.Data == nil {
		env.Data = map[string]interface{}{}
	}
	d := env.Data
	switch env.Type {
	case "ping":
		c.reply("pong", env.Ref, map[string]interface{}{"ts": nowMs()})
	case "message":
		var to []string
		switch v := d["to"].(type) {
		case string:
			to = []string{v}
		case []interface{}:
			for _, x := range v {
				if s, ok := x.(string); ok {
					to = append(to, s)
				}
			}
		}
		if len(to) == 0 {
			c.fail(env.Ref, "bad_request", "to is required")
			return
		}
		id, ts := nextID(), nowMs()
		d["id"], d["from"], d["ts"] = id, c.user, ts
		b := event("message", d)
		h.mu.RLock()
		for _, u := range to {
			for r := range h.users[u] {
				r.queue(b)
			}
		}
		h.mu.RUnlock()
		c.reply("ack", env.Ref, map[string]interface{}{"id": id, "ts": ts})
	case "read":
		ids, _ := d["ids"].([]interface{})
		c.reply("read", env.Ref, map[string]interface{}{"ids": ids})
	case "join":
		room, _ := d["room"].(string)
		if room == "" {
			c.fail(env.Ref, "bad_request", "room is required")
			return
		}
		h.mu.Lock()
		m := h.rooms[room]
		if m == nil {
			m = map[*client]bool{}
			h.rooms[room] = m
		}
		m[c] = true
		users := map[string]bool{}
		for r := range m {
			users[r.user] = true
		}
		h.mu.Unlock()
		c.rooms[room] = true
		list := make([]string, 0, len(users))
		for u := range users {
			list = append(list, u)
		}
		c.reply("join", env.Ref, map[string]interface{}{"room": room, "users": list})
	case "publish":
		room, _ := d["room"].(string)
		if !c.rooms[room] {
			c.fail(env.Ref, "forbidden", "not in room")
			return
		}
		id, ts := nextID(), nowMs()
		d["id"], d["from"], d["ts"] = id, c.user, ts
		b := event("publish", d)
		h.mu.RLock()
		for r := range h.rooms[room] {
			if r != c {
				r.queue(b)
			}
		}
		h.mu.RUnlock()
		c.reply("ack", env.Ref, map[string]interface{}{"id": id, "ts": ts})
	case "broadcast":
		id, ts := nextID(), nowMs()
		d["id"], d["from"], d["ts"] = id, c.user, ts
		b := event("broadcast", d)
		h.mu.RLock()
		for r := range h.all {
			if r != c {
				r.queue(b)
			}
		}
		h.mu.RUnlock()
		c.reply("ack", env.Ref, map[string]interface{}{"id": id, "ts": ts})
	default:
		c.fail(env.Ref, "unknown_type", "unknown type")
	}
}

func (c *client) writer() {
	defer c.conn.Close()
	for {
		select {
		case b := <-c.send:
			if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				c.close()
				return
			}
		case <-c.done:
			return
		}
	}
}

func serveWS(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("client_id")
	if !clientID.MatchString(user) || user == "0" {
		http.Error(w, "client_id missing or invalid", http.StatusUnauthorized)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &client{conn: conn, user: user, send: make(chan []byte, 4096), done: make(chan struct{}), rooms: map[string]bool{}}
	h.mu.Lock()
	if h.users[user] == nil {
		h.users[user] = map[*client]bool{}
	}
	h.users[user][c] = true
	h.all[c] = true
	h.mu.Unlock()
	go c.writer()
	for {
		_, raw, err := conn.ReadMessage()
		if err != nil {
			break
		}
		c.handle(raw)
	}
	h.mu.Lock()
	delete(h.users[user], c)
	if len(h.users[user]) == 0 {
		delete(h.users, user)
	}
	for room := range c.rooms {
		delete(h.rooms[room], c)
	}
	delete(h.all, c)
	h.mu.Unlock()
	c.close()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to listen on")
	flag.Parse()
	http.HandleFunc("/ws", serveWS)
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	log.Fatal(http.ListenAndServe(*listen, nil))
}
