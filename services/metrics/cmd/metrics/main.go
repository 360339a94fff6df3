// Command metrics is the talentreg metrics service.
package main

func main() {}
