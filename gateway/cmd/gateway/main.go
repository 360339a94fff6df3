// Command gateway serves the talentreg HTTP/JSON API.
package main

func main() {}
