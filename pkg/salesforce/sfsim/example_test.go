package sfsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// A simulator behind an httptest server: authenticate with the password
// flow, create an Account through the REST API, and inspect the org.
func Example() {
	sim, err := sfsim.New(sfsim.Config{})
	if err != nil {
		panic(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()

	resp, err := http.PostForm(srv.URL+"/services/oauth2/token", url.Values{
		"grant_type": {"password"}, "client_id": {sfsim.DefaultConsumerKey}, "client_secret": {sfsim.DefaultClientSecret},
		"username": {sfsim.DefaultUsername}, "password": {sfsim.DefaultPassword},
	})
	if err != nil {
		panic(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/services/data/v66.0/sobjects/Account", strings.NewReader(`{"Name":"Acme"}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	var created struct {
		ID      string `json:"id"`
		Success bool   `json:"success"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()

	n, _ := sim.Count("Account")
	fmt.Println(resp.StatusCode, created.Success, len(created.ID), resp.Header.Get("Sforce-Limit-Info"))
	fmt.Printf("Account: %d live, %d deleted\n", n.Live, n.Deleted)
	// Output:
	// 201 true 18 api-usage=1/5000000
	// Account: 1 live, 0 deleted
}
