import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

extension PushListenerServices {
    /// The push listener's server: HTTP/1.1 for every route, and the upgrade
    /// of `GET /listen/v1/{app}` to a listener's WebSocket when ``listeners``
    /// is set and the request's credential may listen to the app (see
    /// ``ListenChannel``). `connectionHandlers` go first in each connection's
    /// pipeline, `httpHandlers` after the HTTP codec; the first request head
    /// has `headTimeout` to arrive.
    func server(
        connectionHandlers: @escaping @Sendable () -> [any RemovableChannelHandler],
        httpHandlers: @escaping @Sendable () -> [any RemovableChannelHandler], headTimeout: Duration, logger: Logger
    ) -> HTTPServerBuilder {
        let push = push
        let hub = listeners
        return HTTPServerBuilder { responder in
            ListenChannel(
                responder: responder, connectionHandlers: connectionHandlers, httpHandlers: httpHandlers, headTimeout: headTimeout,
                authorize: { app, claims, head, channel in
                    guard hub != nil else {
                        return .failure(PushRejection(status: .notFound, description: "this host serves no listeners"))
                    }
                    do throws(PushRejection) {
                        return .success(
                            try await push.authorizeListenerOffThePool(
                                app: app, claims: claims, authorization: head.headers.first(name: "authorization"),
                                source: PushRequestContext.sourceKey(channel.remoteAddress)))
                    } catch {
                        return .failure(error)
                    }
                },
                serve: { socket, grant, logger in
                    guard let hub else { return }
                    await ListenerConnection.serve(socket, grant: grant, hub: hub, logger: logger)
                })
        }
    }
}
