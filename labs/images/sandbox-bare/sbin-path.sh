# handson sandbox-bare: /usr/sbin and /sbin in every user's PATH (as Debian 13
# does), so the student's rootless dockerd finds iptables; without them it
# stops with "failed to create NAT chain DOCKER: Iptables not found".
case ":$PATH:" in
  *:/usr/sbin:*) ;;
  *) PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin ;;
esac
