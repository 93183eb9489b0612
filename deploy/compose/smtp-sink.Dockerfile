# smtp-sink.Dockerfile -- the container test's own SMTP sink (scripts/container-test.sh):
# aiosmtpd keeping every message it receives in the maildir /mail, on the same base image
# as Herald's. Not for production.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-aiosmtpd \
 && rm -rf /var/lib/apt/lists/*
EXPOSE 1025
CMD ["python3", "-m", "aiosmtpd", "-n", "-l", "0.0.0.0:1025", \
     "-c", "aiosmtpd.handlers.Mailbox", "/mail"]
