package main

func cmdDemo(args []string) int { return 0 }
