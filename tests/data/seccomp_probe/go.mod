module seccompprobe

go 1.27
