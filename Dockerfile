# Palyra API / worker image. `docker compose up --build` uses it for both services.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The console's sources: `npm run build` builds the single-page app into dist/console-app.
COPY console ./console
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production PALYRA_DATA_DIR=/data PALYRA_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN mkdir -p /data && chown node:node /data
USER node
ENTRYPOINT ["node", "dist/cli/main.js"]
# `dev` needs Python and the Temporal CLI, which this image leaves out: run `api` or `worker`.
CMD ["api"]
