"""copyhound's Scrapy project: collects candidate images with provenance and WARC evidence."""
