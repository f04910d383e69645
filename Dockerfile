# db-writer as one self-contained binary on a distroless base.
#   docker build -t db-writer .
#   docker run --rm --env-file .env -p 9464:9464 --stop-timeout 40 db-writer
# Keep the Deno version in step with .deno-version.

FROM denoland/deno:debian-2.9.6 AS build
WORKDIR /app
# Dependencies first, so that a source change does not download them again.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY . .
# Writes dist/db-writer with db/migrations embedded.
RUN deno task compile

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /app/dist/db-writer /db-writer
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["/db-writer", "health"]
ENTRYPOINT ["/db-writer"]
CMD ["run"]
