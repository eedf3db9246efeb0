public let _xTaskHostCore = 1
