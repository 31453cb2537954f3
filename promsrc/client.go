package promsrc

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Errors a caller may decide by (errors.Is). Every error returned also names
// the server and says what to check.
var (
	// ErrUnreachable: no connection to the server (refused, no route, DNS,
	// TLS) or no answer within the timeout.
	ErrUnreachable = errors.New("cannot reach the server")
	// ErrAuth: the server answered 401 or 403.
	ErrAuth = errors.New("credentials refused")
	// ErrBadQuery: the server rejected a query (HTTP 400 or 422), most often
	// because of --selector; Prometheus' own message is passed through.
	ErrBadQuery = errors.New("query rejected")
	// ErrUnavailable: HTTP 503 or 429 after every retry.
	ErrUnavailable = errors.New("server unavailable")
	// ErrTooLarge: one answer exceeded Options.MaxResponseBytes.
	ErrTooLarge = errors.New("answer larger than the size limit")
	// ErrProtocol: an answer that is not the Prometheus HTTP API (a login
	// page, a proxy's error page, a wrong URL path).
	ErrProtocol = errors.New("not a Prometheus API answer")
	// ErrRedirect: with credentials set, the server redirected to another
	// origin (scheme, host or port), where they are not sent.
	ErrRedirect = errors.New("redirect refused")
	// ErrTooManyQueries: the series counts the server reported call for
	// more queries than Options.MaxQueries.
	ErrTooManyQueries = errors.New("too many queries")
	// ErrDeadline: the whole merge took longer than Options.Deadline.
	ErrDeadline = errors.New("not done in time")
)

// client speaks the instant-query part of the Prometheus HTTP API:
// POST /api/v1/query, form-encoded, so that long instance matchers never hit
// a URL length limit. Thanos and Mimir answer the same way.
type client struct {
	endpoint string // .../api/v1/query, without user info
	name     string // the server as errors name it (no password)
	user     *url.Userinfo
	token    string
	http     *http.Client
	timeout  time.Duration
	maxBytes int64
	retries  int

	maxQueries int
	backoff    time.Duration
	at         time.Time
	opt        func(Setting) string // names a setting in errors

	// mu guards what queries in flight at once share: the count of queries
	// sent, the warnings seen, and the calls of notes.
	mu       sync.Mutex
	queries  int
	warnings map[string]bool
	notes    func(msg string)
}

// note passes a note about the answers on, if anyone listens.
func (c *client) note(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.notes != nil {
		c.notes(msg)
	}
}

// sent is the number of queries sent so far.
func (c *client) sent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queries
}

func newClient(opts Options, token string) (*client, error) {
	u, err := parseServerURL(opts.URL, opts.name)
	if err != nil {
		return nil, err
	}
	user := u.User
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	name := u.String()
	origin := u.Scheme + "://" + u.Host
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/query"
	hc := opts.Client
	if hc == nil {
		hc = &http.Client{}
	}
	// A copy, so the caller's client keeps its own redirect policy.
	own := *hc
	own.CheckRedirect = sameOrigin(origin, token != "" || user != nil, hc.CheckRedirect)
	return &client{
		endpoint: u.String(), name: name, user: user, token: token, http: &own,
		timeout: opts.Timeout, maxBytes: opts.MaxResponseBytes, maxQueries: opts.MaxQueries,
		retries: opts.Retries, backoff: opts.RetryBackoff, at: opts.Time,
		warnings: map[string]bool{}, opt: opts.name,
	}, nil
}

// parseServerURL parses Options.URL (name names it in errors). Its errors
// never repeat a user or
// password: url.Parse's own error quotes the whole URL, and its detail (an
// invalid escape, a bad port) can be a piece of the password, so a URL that
// holds an '@' is reported with everything before the '@' masked and
// without the detail.
func parseServerURL(raw string, name func(Setting) string) (*url.URL, error) {
	shown := strconv.Quote(redactURL(raw))
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			return nil, fmt.Errorf("%s %s: not a valid URL; percent-encode special characters in the user and password (%% as %%25, @ as %%40, / as %%2F, : as %%3A, # as %%23)", name(SettingURL), shown)
		}
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: not a valid URL: %v", name(SettingURL), shown, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s %s: want an http:// or https:// URL of the server (e.g. http://prometheus:9090)", name(SettingURL), shown)
	}
	return u, nil
}

// redactURL masks whatever could be a user or password in a URL that may
// not parse: everything between the scheme's "//" (or the start) and the
// last '@'.
func redactURL(raw string) string {
	at := strings.LastIndexByte(raw, '@')
	if at < 0 {
		return raw
	}
	start := 0
	if i := strings.Index(raw, "//"); i >= 0 && i < at {
		start = i + 2
	}
	return raw[:start] + "xxxxx" + raw[at:]
}

// errRedirect is what the redirect policy returns for a redirect it will
// not follow.
type errRedirect struct{ to string }

func (e *errRedirect) Error() string { return "redirected to " + e.to }

// sameOrigin is the client's redirect policy. Go's default keeps the
// Authorization header for the same host name whatever the scheme or port,
// so a redirect could hand the token or password to another service on the
// host, or send it in clear after https. With credentials, a redirect is
// followed only within the origin given (scheme, host and port); without,
// any redirect is followed as usual. next is the caller's own policy, if
// any.
func sameOrigin(origin string, credentials bool, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		to := req.URL.Scheme + "://" + req.URL.Host
		if credentials && !strings.EqualFold(to, origin) {
			shown := *req.URL
			shown.User, shown.RawQuery, shown.Fragment = nil, "", ""
			return &errRedirect{to: serverText(shown.String())}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// series is one element of an instant vector: labels and [time, "value"].
type series struct {
	Metric map[string]string  `json:"metric"`
	Value  [2]json.RawMessage `json:"value"`
}

func (s series) value() (float64, error) {
	raw := s.Value[1]
	// A plain quoted number, as Prometheus writes every sample, is parsed
	// in place; anything else goes through the JSON decoder.
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && !bytes.ContainsAny(raw[1:n-1], `"\`) {
		return strconv.ParseFloat(string(raw[1:n-1]), 64)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("sample value %s: %w", raw, err)
	}
	return strconv.ParseFloat(v, 64)
}

// answerOptions decode an answer's envelope, and the strings in it that
// hold escapes, with go-json-experiment/json as leniently as encoding/json:
// names matched ignoring case only (not '_' or '-'), a name given twice
// keeps the last, invalid UTF-8 replaced.
var answerOptions = jsonv2.JoinOptions(
	jsonv2.MatchCaseInsensitiveNames(true),
	jsonv1.MatchCaseSensitiveDelimiter(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// query runs one instant query and returns its vector.
func (c *client) query(ctx context.Context, expr string) (*vector, error) {
	body, err := c.post(ctx, expr)
	if err != nil {
		return nil, err
	}
	vec := body
	if vec.resultType != "vector" {
		return nil, fmt.Errorf("prometheus %s: %w: result type %q for %s, want vector", c.name, ErrProtocol, vec.resultType, expr)
	}
	return vec, nil
}

// post sends one query, retrying 503 and 429 with exponential backoff (or
// the server's Retry-After, capped), and returns the envelope's data.
func (c *client) post(ctx context.Context, expr string) (*vector, error) {
	c.mu.Lock()
	if c.maxQueries > 0 && c.queries >= c.maxQueries {
		c.mu.Unlock()
		return nil, fmt.Errorf("prometheus %s: %w: %d queries sent, the limit (%s); %s",
			c.name, ErrTooManyQueries, c.maxQueries, c.opt(SettingMaxQueries), c.tooManyHint())
	}
	c.queries++
	c.mu.Unlock()
	form := url.Values{
		"query":   {expr},
		"time":    {formatTime(c.at)},
		"timeout": {strconv.FormatFloat(c.timeout.Seconds(), 'f', -1, 64) + "s"},
	}
	wait := c.backoff
	for attempt := 0; ; attempt++ {
		data, retryAfter, err := c.once(ctx, form, expr)
		if err == nil || !errors.Is(err, ErrUnavailable) || attempt >= c.retries {
			if err != nil && errors.Is(err, ErrUnavailable) && attempt > 0 {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
			}
			return data, err
		}
		d := wait
		if retryAfter > 0 {
			d = min(retryAfter, maxRetryAfter)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		case <-t.C:
		}
		wait *= 2
	}
}

// maxRetryAfter caps a server's Retry-After, so a proxy asking for an hour
// does not stall a CI job.
const maxRetryAfter = 10 * time.Second

func (c *client) once(parent context.Context, form url.Values, expr string) (*vector, time.Duration, error) {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, fmt.Errorf("prometheus %s: %w", c.name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	} else if c.user != nil {
		pw, _ := c.user.Password()
		req.SetBasicAuth(c.user.Username(), pw)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return nil, 0, context.Cause(parent)
		}
		if re := (*errRedirect)(nil); errors.As(err, &re) {
			return nil, 0, fmt.Errorf("prometheus %s: %w: %s; planet sends credentials only to the origin given (scheme, host and port): if the server moved, give its new address to %s", c.name, ErrRedirect, re.to, c.opt(SettingURL))
		}
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("prometheus %s: %w: no answer within %s (raise %s for a big fleet)", c.name, ErrUnreachable, c.timeout, c.opt(SettingTimeout))
		}
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, fmt.Errorf("prometheus %s: %w: %s", c.name, ErrUnreachable, serverText(err.Error()))
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		how := "no credentials were sent: use " + c.opt(SettingBearerTokenFile) + " or user:password@ in the URL"
		switch {
		case c.token != "":
			how = "check the token in " + c.opt(SettingBearerTokenFile)
		case c.user != nil:
			how = "check the user and password in the URL"
		}
		return nil, 0, fmt.Errorf("prometheus %s: %w: HTTP %s (%s)", c.name, ErrAuth, serverText(resp.Status), how)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("prometheus %s: %w: HTTP %s", c.name, ErrUnavailable, serverText(resp.Status))
	}

	if resp.ContentLength > c.maxBytes {
		return nil, 0, c.tooLarge(fmt.Sprintf("%d bytes announced", resp.ContentLength), expr)
	}
	// The answer is decoded as it arrives, never held whole.
	body := &answerReader{r: resp.Body, left: c.maxBytes + 1}
	env, derr := decodeAnswer(body)
	if derr != nil {
		// Read to the size limit, as a whole read would have, so an
		// answer too large is reported as such.
		_, _ = io.Copy(io.Discard, body)
	}
	// A read that failed, or a decode cut short by the timeout, is the
	// connection's fault, not the answer's.
	if err := cmp.Or(body.err, ctxErr(ctx, derr)); err != nil {
		if parent.Err() != nil {
			return nil, 0, context.Cause(parent)
		}
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("prometheus %s: %w: answer not complete within %s", c.name, ErrUnreachable, c.timeout)
		}
		return nil, 0, fmt.Errorf("prometheus %s: %w: reading the answer: %s", c.name, ErrUnreachable, serverText(err.Error()))
	}
	if body.n > c.maxBytes {
		return nil, 0, c.tooLarge("more", expr)
	}
	if derr != nil || env.Status == "" {
		why := "no status"
		if derr != nil {
			why = serverText(derr.Error())
		}
		return nil, 0, fmt.Errorf("prometheus %s: %w: HTTP %s, %s, %s: %q (is the URL the server's base URL?)",
			c.name, ErrProtocol, serverText(resp.Status), serverText(resp.Header.Get("Content-Type")), why, excerpt(body.head))
	}
	c.mu.Lock()
	for _, w := range env.Warnings {
		w = serverText(w)
		if !c.warnings[w] && len(c.warnings) < maxWarnings {
			c.warnings[w] = true
			if c.notes != nil {
				c.notes("server warning: " + w)
			}
		}
	}
	c.mu.Unlock()
	if env.Status != "success" {
		kind, msg := serverText(env.ErrorType), serverText(env.Error)
		switch resp.StatusCode {
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			return nil, 0, fmt.Errorf("prometheus %s: %w (%s): %s (query: %s)", c.name, ErrBadQuery, kind, msg, expr)
		case http.StatusServiceUnavailable:
			return nil, 0, fmt.Errorf("prometheus %s: %w: %s", c.name, ErrUnavailable, msg)
		}
		return nil, 0, fmt.Errorf("prometheus %s: HTTP %s: %s: %s (query: %s)", c.name, serverText(resp.Status), kind, msg, expr)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("prometheus %s: %w: HTTP %s with status success", c.name, ErrProtocol, serverText(resp.Status))
	}
	if env.DataErr != nil {
		return nil, 0, fmt.Errorf("prometheus %s: %w: data: %s", c.name, ErrProtocol, serverText(env.DataErr.Error()))
	}
	return env.Data, 0, nil
}

// ctxErr is derr if ctx is done (the answer was cut short by it), else nil.
func ctxErr(ctx context.Context, derr error) error {
	if derr != nil && ctx.Err() != nil {
		return derr
	}
	return nil
}

func (c *client) tooLarge(size, expr string) error {
	return fmt.Errorf("prometheus %s: %w: %s than %d bytes for %s (lower %s so queries are split finer)",
		c.name, ErrTooLarge, size, c.maxBytes, expr, c.opt(SettingMaxSeries))
}

func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// maxWarnings bounds the distinct server warnings passed on; a server
// sending a new one with every answer does not flood the log.
const maxWarnings = 20

// maxServerText is the most of one server string (an error, a warning, a
// status line) that reaches a message.
const maxServerText = 500

// serverText makes text the server chose safe to print on a terminal:
// at most maxServerText bytes (cut on a rune boundary, "..." added), and
// Go-quoted when it holds anything but printable characters and spaces (an
// escape sequence, a newline, a right-to-left override, invalid UTF-8), so
// it can neither run terminal commands nor disguise itself.
func serverText(s string) string {
	if len(s) > maxServerText {
		cut := maxServerText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

func excerpt(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 120 {
		b = append(b[:120:120], "..."...)
	}
	return string(b)
}

// formatTime is the API's time parameter: Unix seconds with milliseconds.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', 3, 64)
}
