/// The proxy target's namespace until its server lands (issue 5).
enum ProxyModule {}
