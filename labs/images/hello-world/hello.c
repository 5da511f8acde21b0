/* hello-world for the handson course: prints the official hello-world text,
 * adapted to say where this copy comes from. Built static (musl), no libc
 * calls beyond write(2), so the image holds this one file. */
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH "amd64"
#elif defined(__aarch64__)
#define ARCH "arm64v8"
#else
#define ARCH "unknown"
#endif

static const char message[] =
	"\n"
	"Hello from Docker!\n"
	"This message shows that your installation appears to be working correctly.\n"
	"\n"
	"To generate this message, Docker took the following steps:\n"
	" 1. The Docker client contacted the Docker daemon.\n"
	" 2. The Docker daemon pulled the \"hello-world\" image from the Docker Hub\n"
	"    (here: from the classroom registry that mirrors it offline).\n"
	"    (" ARCH ")\n"
	" 3. The Docker daemon created a new container from that image which runs the\n"
	"    executable that produces the output you are currently reading.\n"
	" 4. The Docker daemon streamed that output to the Docker client, which sent it\n"
	"    to your terminal.\n"
	"\n"
	"To try something more ambitious, you can run a Debian container with:\n"
	" $ docker run -it debian bash\n"
	"\n"
	"This copy of hello-world was built for the handson course from Debian\n"
	"packages (a small static C program); it is not Docker Inc.'s image.\n"
	"\n"
	"For more examples and ideas, visit:\n"
	" https://docs.docker.com/get-started/\n"
	"\n";

int main(void)
{
	const char *p = message;
	size_t left = sizeof message - 1;
	while (left > 0) {
		ssize_t n = write(1, p, left);
		if (n <= 0)
			return 1;
		p += n;
		left -= (size_t)n;
	}
	return 0;
}
