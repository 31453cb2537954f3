package promsrc

import (
	"context"
	"sync"
)

// inOrder runs n queries, expr(0) to expr(n-1), with at most parallel of
// them sent or answered but not yet folded at once, and calls fold with
// each answer in order, from the calling goroutine. So the server evaluates
// the next queries while the answers before them are decoded and folded,
// and memory holds at most parallel answers. The first error, of a query
// or of fold, in order, is returned; on any return the queries still
// running are cancelled and waited for.
func (c *client) inOrder(ctx context.Context, parallel, n int, expr func(i int) string, fold func(i int, res *vector) error) error {
	if n == 0 {
		return nil
	}
	parallel = max(1, min(parallel, n))
	type answer struct {
		res *vector
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	answers := make([]chan answer, n)
	for i := range answers {
		answers[i] = make(chan answer, 1)
	}
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	// On any return, every query is stopped and waited for: they count
	// queries and add notes that the caller reads after.
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			if ctx.Err() != nil {
				return // both were ready: send nothing more
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := c.query(ctx, expr(i))
				answers[i] <- answer{res, err}
			}()
		}
	}()
	for i := range n {
		var a answer
		select {
		case a = <-answers[i]: // an answer ready wins over a cancellation
		default:
			select {
			case a = <-answers[i]:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		if a.err != nil {
			return a.err
		}
		if err := fold(i, a.res); err != nil {
			return err
		}
		<-slots
	}
	return nil
}
