# db-writer as one self-contained binary on a distroless base.
#   docker build -t db-writer .
#   docker run --rm --env-file .env -p 9464:9464 --stop-timeout 40 db-writer
# Keep the Deno version in step with .deno-version (tests/compile_test.ts checks it).

FROM denoland/deno:debian-2.9.6 AS build
WORKDIR /app
# Dependencies first, so that a source change does not download them again.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY service.flags main.ts ./
COPY src ./src
COPY db ./db
COPY tools ./tools
# The compile task of deno.json (tools/compile.ts): the flags of service.flags, as for `deno task start`,
# db/migrations embedded; it fails unless the binary answers --version as db-writer.
RUN deno task compile && ./dist/db-writer --version

# glibc and libgcc, nothing else: no shell, no package manager; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /app/dist/db-writer /usr/local/bin/db-writer
# The binary reads .env from its working directory; mount one here, or pass --env-file.
WORKDIR /app
USER nonroot
# HTTP_HOST defaults to loopback; in a container the published port arrives on the container's own interface.
ENV HTTP_HOST=0.0.0.0
EXPOSE 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["/usr/local/bin/db-writer", "health"]
ENTRYPOINT ["/usr/local/bin/db-writer"]
CMD ["run"]
