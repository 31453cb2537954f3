package promsrc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
)

// referenceVector is how an answer's data decoded before decodeVector:
// go-json-experiment/json into maps, with answerOptions.
type referenceVector struct {
	ResultType string   `json:"resultType"`
	Result     []series `json:"result"`
}

// decoded is a vector's series as plain values, for comparison.
func decoded(t testing.TB, v *vector) []series {
	t.Helper()
	var out []series
	err := v.each(func(s series) error {
		out = append(out, series{Metric: maps.Clone(s.Metric), Value: [2]json.RawMessage{bytes.Clone(s.Value[0]), bytes.Clone(s.Value[1])}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameSeries says whether got decodes as want did: the same labels (a nil
// map and an empty one alike) and the same value bytes.
func sameSeries(got, want []series) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if len(got[i].Metric) != len(want[i].Metric) || len(want[i].Metric) > 0 && !maps.Equal(got[i].Metric, want[i].Metric) {
			return false
		}
		for j := range 2 {
			if !bytes.Equal(got[i].Value[j], want[i].Value[j]) {
				return false
			}
		}
	}
	return true
}

// TestDecodeVector: decodeVector reads every answer the map decoder it
// replaced read, to the same labels and values, and refuses what it
// refused (a label that is not a string, broken JSON, trailing data).
func TestDecodeVector(t *testing.T) {
	tests := []struct {
		name, data string
		wantErr    bool
	}{
		{name: "plain", data: `{"resultType":"vector","result":[{"metric":{"instance":"a:9100","job":"node"},"value":[1764500000.123,"4"]},{"metric":{"instance":"b:9100"},"value":[1764500000.123,"+Inf"]}]}`},
		{name: "empty", data: `{"resultType":"vector","result":[]}`},
		{name: "null result", data: `{"resultType":"vector","result":null}`},
		{name: "member names in any case", data: `{"RESULTTYPE":"vector","Result":[{"Metric":{"instance":"a"},"VALUE":[1,"2"]}]}`},
		{name: "unknown members", data: `{"resultType":"vector","stats":{"x":[1,2]},"result":[{"metric":{"a":"b"},"histogram":[1,{}],"value":[1,"2"]}]}`},
		{name: "name given twice keeps the last", data: `{"resultType":"matrix","resultType":"vector","result":[{"metric":{"a":"1","a":"2"},"value":[1,"3"],"value":[2,"4"]}]}`},
		{name: "metric given twice", data: `{"resultType":"vector","result":[{"metric":{"a":"1","b":"2"},"metric":{"c":"3"},"value":[1,"3"]}]}`},
		{name: "result given twice", data: `{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]}],"result":[{"metric":{"b":"2"},"value":[1,"2"]}]}`},
		{name: "null metric and label", data: `{"resultType":"vector","result":[{"metric":null,"value":[1,"2"]},{"metric":{"a":null},"value":[1,"2"]}]}`},
		{name: "no metric", data: `{"resultType":"vector","result":[{"value":[1,"2"]}]}`},
		{name: "null series", data: `{"resultType":"vector","result":[null]}`},
		{name: "escapes", data: `{"resultType":"vector","result":[{"metric":{"a\u0062":"x\u00e9\n\"","\u0000":"\ud83d\ude00"},"value":[1,"\u0034"]}]}`},
		{name: "invalid UTF-8", data: "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"a\":\"x\xff\xfey\",\"\xc3\":\"1\"},\"value\":[1,\"2\"]}]}"},
		{name: "matrix", data: `{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"2"]]}]}`},
		{name: "null value", data: `{"resultType":"vector","result":[{"metric":{"a":"b"},"value":null}]}`},
		{name: "empty value", data: `{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[]}]}`, wantErr: true},
		{name: "value of three", data: `{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"2",3]}]}`, wantErr: true},
		{name: "value not a string", data: `{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,2]}]}`},
		{name: "label a number", data: `{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"2"]}]}`, wantErr: true},
		{name: "metric an array", data: `{"resultType":"vector","result":[{"metric":["a"],"value":[1,"2"]}]}`, wantErr: true},
		{name: "series a number", data: `{"resultType":"scalar","result":[1,"2"]}`, wantErr: true},
		{name: "result an object", data: `{"resultType":"vector","result":{}}`, wantErr: true},
		{name: "resultType a number", data: `{"resultType":1,"result":[]}`, wantErr: true},
		{name: "truncated", data: `{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"2"`, wantErr: true},
		{name: "trailing data", data: `{"resultType":"vector","result":[]} {}`, wantErr: true},
		{name: "not JSON", data: `<html>`, wantErr: true},
		{name: "nothing", data: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want referenceVector
			wantErr := jsonv2.Unmarshal([]byte(tt.data), &want, answerOptions)
			if (wantErr != nil) != tt.wantErr {
				t.Fatalf("the reference decoder: error %v, want one: %v", wantErr, tt.wantErr)
			}
			got, err := decodeVector([]byte(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("decodeVector: error %v, want one: %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.resultType != want.ResultType || !sameSeries(decoded(t, got), want.Result) {
				t.Errorf("decodeVector = %q %v, want %q %v", got.resultType, decoded(t, got), want.ResultType, want.Result)
			}
		})
	}
}

// FuzzDecodeVector: decodeVector agrees with the map decoder it replaced
// on whatever the server sends, where both accept it.
func FuzzDecodeVector(f *testing.F) {
	f.Add([]byte(`{"resultType":"vector","result":[{"metric":{"instance":"a:9100","a\u0062":"x\n"},"value":[1764500000.123,"4"]}]}`))
	f.Add([]byte(`{"resultType":"vector","result":[{"metric":null,"value":null},null],"Result":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeVector(data)
		var want referenceVector
		if jsonv2.Unmarshal(data, &want, answerOptions) != nil || err != nil {
			return
		}
		if got.resultType != want.ResultType || !sameSeries(decoded(t, got), want.Result) {
			t.Errorf("decodeVector(%q) = %q %v, want %q %v", data, got.resultType, decoded(t, got), want.ResultType, want.Result)
		}
	})
}

// vectorAnswer is an answer of n planet_upstream series, as Prometheus
// writes it.
func vectorAnswer(n int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"metric":{"instance":"host-%d.example.com:9100","job":"node","local_address":"10.%d.%d.%d","local_hostgroup":"web","port":"%d","process_name":"app","protocol":"tcp","remote_address":"10.9.%d.%d","remote_hostgroup":"db","workload":""},"value":[1764500000.123,"%d"]}`,
			i/200, i/200/65536%256, i/200/256%256, i/200%256, 1000+i%50, i/256%256, i%256, 1+i%7)
	}
	buf.WriteString(`]}}`)
	return buf.Bytes()
}

// BenchmarkDecodeVector decodes a whole answer of 20,000 planet_upstream
// series (the default MaxSeries; 200 a host), envelope included, and
// reads every series' labels and value, three ways side by side:
// encoding/json (envelope and data), the decoder before (encoding/json
// for the envelope, go-json-experiment/json into a map per series), and
// the client's (decodeAnswer: one streaming pass, labels as indexes of
// the answer's distinct strings):
//
//	go test ./promsrc -run '^$' -bench DecodeVector -benchmem
func BenchmarkDecodeVector(b *testing.B) {
	const n = 20000
	body := vectorAnswer(n)
	var sink int
	read := func(b *testing.B, s series) {
		v, err := s.value()
		if err != nil {
			b.Fatal(err)
		}
		sink += len(s.Metric["instance"]) + int(v)
	}
	type envelope struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var env envelope
			var vec referenceVector
			if err := json.Unmarshal(body, &env); err != nil {
				b.Fatal(err)
			}
			if err := json.Unmarshal(env.Data, &vec); err != nil || len(vec.Result) != n {
				b.Fatal(err, len(vec.Result))
			}
			for _, s := range vec.Result {
				var v string
				if err := json.Unmarshal(s.Value[1], &v); err != nil {
					b.Fatal(err)
				}
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				sink += len(s.Metric["instance"]) + int(f)
			}
		}
	})
	b.Run("maps", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var env envelope
			var vec referenceVector
			if err := json.Unmarshal(body, &env); err != nil {
				b.Fatal(err)
			}
			if err := jsonv2.Unmarshal(env.Data, &vec, answerOptions); err != nil || len(vec.Result) != n {
				b.Fatal(err, len(vec.Result))
			}
			for _, s := range vec.Result {
				read(b, s)
			}
		}
	})
	b.Run("client", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			env, err := decodeAnswer(bytes.NewReader(body))
			if err != nil || env.DataErr != nil || env.Data.len() != n {
				b.Fatal(err, env.DataErr)
			}
			_ = env.Data.each(func(s series) error {
				read(b, s)
				return nil
			})
		}
	})
	if sink == 0 {
		b.Fatal("nothing read")
	}
}

// TestVectorReusesNothingKept: strings handed out by each stay valid
// after the next series and after the vector is gone (they are kept in
// hosts' records).
func TestVectorStringsOutliveEach(t *testing.T) {
	v, err := decodeVector([]byte(`{"resultType":"vector","result":[{"metric":{"a":"x1"},"value":[1,"2"]},{"metric":{"a":"x2"},"value":[1,"3"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	_ = v.each(func(s series) error {
		kept = append(kept, s.Metric["a"])
		return nil
	})
	v = nil
	if !reflect.DeepEqual(kept, []string{"x1", "x2"}) {
		t.Errorf("kept %q", kept)
	}
}

// TestDecodeAnswer: the envelope reads as go-json-experiment/json read it
// into a struct (names in any case, the last of a name given twice,
// unknown members ignored), with data that is not a vector set aside as
// DataErr while the rest is still read, and broken JSON or data after the
// envelope refused.
func TestDecodeAnswer(t *testing.T) {
	type reference struct {
		Status, ErrorType, Error string
		Warnings                 []string
		Data                     referenceVector
	}
	tests := []struct {
		name, body       string
		wantErr, dataErr bool
	}{
		{name: "success", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"2"]}]}}`},
		{name: "data first, names in any case", body: `{"DATA":{"resultType":"vector","result":[]},"Warnings":["w1","w2"],"STATUS":"success"}`},
		{name: "error", body: `{"status":"error","errorType":"bad_data","error":"parse error","warnings":null}`},
		{name: "data twice", body: `{"status":"success","data":{"resultType":"matrix","result":[]},"data":{"resultType":"vector","result":[]}}`},
		{name: "unknown members", body: `{"status":"success","infos":["x"],"data":{"resultType":"vector","result":[]}}`},
		{name: "data not a vector, error still read", body: `{"status":"error","data":{"resultType":"scalar","result":[1,"2"]},"error":"boom"}`, dataErr: true},
		{name: "no status", body: `{"data":{"resultType":"vector","result":[]}}`},
		{name: "status a number", body: `{"status":1}`, wantErr: true},
		{name: "warning a number", body: `{"status":"success","warnings":[1]}`, wantErr: true},
		{name: "html", body: `<html>login</html>`, wantErr: true},
		{name: "truncated", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a"`, wantErr: true},
		{name: "data after", body: `{"status":"success"}{"status":"error"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAnswer(bytes.NewReader([]byte(tt.body)))
			if (err != nil) != tt.wantErr || err == nil && (got.DataErr != nil) != tt.dataErr {
				t.Fatalf("error %v, data error %v; want %v, %v", err, got.DataErr, tt.wantErr, tt.dataErr)
			}
			if err != nil || tt.dataErr {
				return
			}
			var want reference
			if err := jsonv2.Unmarshal([]byte(tt.body), &want, answerOptions); err != nil {
				t.Fatal(err)
			}
			var gotSeries []series
			gotType := ""
			if got.Data != nil {
				gotSeries, gotType = decoded(t, got.Data), got.Data.resultType
			}
			if got.Status != want.Status || got.ErrorType != want.ErrorType || got.Error != want.Error ||
				!slices.Equal(got.Warnings, want.Warnings) || gotType != want.Data.ResultType || !sameSeries(gotSeries, want.Data.Result) {
				t.Errorf("decodeAnswer = %+v %v, want %+v", got, gotSeries, want)
			}
		})
	}
}

// TestAnswerReaderLimit: the body is read to the limit plus one byte and no
// further, its first bytes kept for an excerpt.
func TestAnswerReaderLimit(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 5000)
	r := &answerReader{r: bytes.NewReader(body), left: 3001}
	n, err := io.Copy(io.Discard, r)
	if n != 3001 || err != nil || r.n != 3001 || len(r.head) != maxHead {
		t.Errorf("read %d (%v), counted %d, head %d; want 3001, 3001, %d", n, err, r.n, len(r.head), maxHead)
	}
}

// FuzzDecodeAnswer: whatever the server sends, decodeAnswer returns (no
// panic), and where go-json-experiment/json reads the same envelope it
// agrees on the status, error and warnings.
func FuzzDecodeAnswer(f *testing.F) {
	f.Add([]byte(`{"status":"success","warnings":["w"],"data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"2"]}]}}`))
	f.Add([]byte(`{"status":"error","errorType":"bad_data","error":"x","data":{"result":[1]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeAnswer(bytes.NewReader(body))
		var want struct {
			Status, ErrorType, Error string
			Warnings                 []string
		}
		if err != nil || jsonv2.Unmarshal(body, &want, answerOptions) != nil {
			return
		}
		if got.Status != want.Status || got.ErrorType != want.ErrorType || got.Error != want.Error || !slices.Equal(got.Warnings, want.Warnings) {
			t.Errorf("decodeAnswer(%q) = %+v, want %+v", body, got, want)
		}
	})
}
