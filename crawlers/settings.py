"""Scrapy settings of the copyhound project: the fixed wiring.

Values that users tune (politeness, caps, cache, size limit) come from the workspace's
config.toml and are applied per target by `crawlers.configure` at "spider" priority, so they
override what is here; `scrapy crawl -s NAME=VALUE` still overrides both.
"""

from scrapy.settings import default_settings as _scrapy

BOT_NAME = "copyhound"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

ROBOTSTXT_OBEY = True
# No way into a running crawl: it reads hostile pages. Scrapy's telnet console, and the remote-control HTTP server
# that Scrapy 2.19 starts by default (an endpoint running Python code, on loopback behind a token), stay off.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
COOKIES_ENABLED = False
# Resolves through getaddrinfo, so IPv6 hosts and literals ([::1]) connect; Scrapy's default
# resolver knows only IPv4 and called [::1] a name that does not resolve.
DNS_RESOLVER = "scrapy.resolver.CachingHostnameResolver"
LOG_LEVEL = "INFO"

DOWNLOADER_MIDDLEWARES = {
    # Before everything else, robots.txt included: no request reaches a private address unasked.
    "crawlers.middlewares.PrivateAddressGuard": 40,
    "crawlers.middlewares.RetryBackoff": 45,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawlers.middlewares.RecordedRobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawlers.middlewares.LoopSafeRedirect": 600,
    # Below the HTTP cache (900): records only what really came off the network.
    "crawlers.middlewares.WarcCapture": 950,
}

EXTENSIONS = {
    "crawlers.progress.CrawlProgress": 500,
}

# The components above turned off are also left out of Scrapy's own lists, not set to None in the two above: Scrapy
# imports every component a project names there (to compare names), and these imports cost every crawl process
# about 0.2 s of CPU at its start (the remote control's imports aiohttp, the cookies middleware's tldextract and
# requests). The rest of Scrapy's lists is kept as the installed Scrapy has it.
_LEFT_OUT = {
    "scrapy.extensions.remote_control.RemoteControl",
    "scrapy.extensions.telnet.TelnetConsole",
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",  # COOKIES_ENABLED is off
}
EXTENSIONS_BASE = {path: order for path, order in _scrapy.EXTENSIONS_BASE.items() if path not in _LEFT_OUT}
DOWNLOADER_MIDDLEWARES_BASE = {path: order for path, order in _scrapy.DOWNLOADER_MIDDLEWARES_BASE.items()
                               if path not in _LEFT_OUT}

ITEM_PIPELINES = {
    "crawlers.pipelines.StorePipeline": 300,
}

HTTPCACHE_POLICY = "scrapy.extensions.httpcache.RFC2616Policy"
HTTPCACHE_STORAGE = "crawlers.httpcache.WholeEntryCacheStorage"
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
