module example.com/rich

go 1.27
