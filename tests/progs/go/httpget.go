// httpget: a Go standard-library HTTP client, as most Go command-line tools
// are: net/http with Go's own dialer and (unless told otherwise) Go's own DNS
// resolver, which sends its queries over UDP with raw system calls.
//
//	httpget URL
//
// Prints "status: <status>" and then the body; on failure "error: <err>"
// and exit status 1.  The whole request is bounded (60 s).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: httpget URL")
		os.Exit(2)
	}
	c := &http.Client{Timeout: 60 * time.Second}
	r, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	fmt.Println("status:", r.Status)
	os.Stdout.Write(body)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
